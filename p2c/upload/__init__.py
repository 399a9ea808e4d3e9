"""Upload: initialize the existing Dataverse records from the `dualwrite.*` tables, by record id.

`runner` drives `p2c plan` and `p2c upload` table by table in dependency order; `rows` streams the target
rows from DuckDB; `prepare` turns a row into its update (record id, initialized columns, lookups bound) and
decides against the record's current state; `store` keeps `upload.runs` and `upload.results`; `report` is
`p2c results`; `progress` draws the bars. The Web API itself is `p2c.dataverse`."""
