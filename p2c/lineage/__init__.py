"""Column-level lineage of the dbt project, checked against declarations, and the auditor's pack.

Modules, one job each: `artifacts` reads dbt's target files, `schema` gives sqlglot every relation's columns,
`graph` computes the edges from compiled SQL, `paths` follows them back to the export headers, `declarations`
compares them with the YAML, `evidence` adds rules and tests, `export`/`report_html`/`pack` write the pack and
`trace` answers for one row."""
