"""Transform: `p2c build` runs `dbt build` in-process against the DuckDB file and summarizes what it produced.

`dbt` invokes dbt the one way every caller (CLI, tests, benchmarks) shares; `runner` is the command with its
progress display; `summary` reads what landed in the target tables, the rejects and the reconciliation."""
