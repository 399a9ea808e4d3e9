"""Column-level lineage of the dbt project, checked against declarations, and the auditor's pack.

Modules, one job each: `schema` gives sqlglot every relation's columns, `graph` computes the edges from
compiled SQL (`jinja_vars` tells which literals came from a dbt var), `column_paths` follows them back to the
export headers, `declarations` compares them with the YAML, `column_evidence` adds the procedure rules, the
guarding tests and the vocabulary's headers, `landed_headers` the headers seen in each landed file;
`pack_contents` assembles one record per column, which `export`, `report_html`, `svg` and `docs_site` render
and `pack_writer` writes to disk. `row_provenance` answers for one row (`p2c lineage trace`)."""
