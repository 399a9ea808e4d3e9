"""Build the dbt project on a local Spark session, in a process of its own (the JVM goes away with it).

`python tests/spark_build.py LAKEHOUSE SPARK_DIR OUT`: runs a model before anything is registered (its
error goes to OUT/unregistered.txt), registers the `p2c export-lakehouse` folder LAKEHOUSE
as raw.<table> (dbt run-operation register_lakehouse), runs `dbt build --target spark` with its metastore and
warehouse in SPARK_DIR, and writes OUT/results.json, the rows per raw table as the export's register.sql
registers them (OUT/registered_counts.json), plus every built model and seed as Parquet in
OUT/relations/<schema>.<name>/, for tests/test_spark_target.py to compare with the DuckDB build."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dbt.cli.main import dbtRunner

from p2c.lakehouse import REGISTER_FILE, lakehouse_tables, register_statements

PROJECT = Path(__file__).resolve().parent.parent


def main(lakehouse: Path, spark_dir: Path, out: Path) -> int:
    os.environ.update(
        {"P2C_SPARK_DIR": str(spark_dir), "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    )
    common = ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--target", "spark"]
    common += ["--target-path", str(out / "target")]
    runner = dbtRunner()
    # before the raw tables are registered: the landing-zone hook must stop the build and name them
    messages: list[str] = []
    unregistered = dbtRunner(callbacks=[lambda event: messages.append(event.info.msg)]).invoke(
        ["run", "--select", "stg_choice_labels", *common]
    )
    (out / "unregistered.txt").write_text(
        f"success={unregistered.success}\n{unregistered.exception or ''}\n" + "\n".join(messages),
        encoding="utf-8",
    )
    registered = runner.invoke(
        ["run-operation", "register_lakehouse", "--args", json.dumps({"folder": str(lakehouse)}), *common]
    )
    if not registered.success:
        print(f"register_lakehouse failed: {registered.exception}", file=sys.stderr)
        return 2
    built = runner.invoke(["build", *common])
    results = [
        {
            "unique_id": r.node.unique_id,
            "resource_type": str(r.node.resource_type),
            "schema": getattr(r.node, "schema", None),
            "name": r.node.name,
            "alias": getattr(r.node, "alias", None),
            "status": str(r.status),
            "message": str(r.message or ""),
        }
        for r in (built.result or [])
    ]
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the session dbt-spark started
    # the export's register.sql too, for users with a spark-sql shell instead of dbt: rows per raw table
    for statement in register_statements(lakehouse / REGISTER_FILE):
        spark.sql(statement)
    counts = {name: spark.table(f"raw.`{name}`").count() for name in lakehouse_tables()}
    (out / "registered_counts.json").write_text(json.dumps(counts), encoding="utf-8")
    for result in results:
        if result["resource_type"] in ("model", "seed") and result["status"] == "success":
            relation = f"{result['schema']}.{result['alias']}"
            spark.table(relation).coalesce(1).write.mode("overwrite").parquet(
                str(out / "relations" / relation)
            )
    return 0 if built.success else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
