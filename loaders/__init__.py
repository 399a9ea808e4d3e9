"""Land Dynamics 365 Sales exports (CSV, Excel) in DuckDB, every value as text with its provenance."""
