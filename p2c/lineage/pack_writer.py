"""`p2c lineage pack --out DIR`: the auditor's pack.

    DIR/report.html        self-contained report (offline; search; graph per column)
    DIR/lineage.csv|json   one row per edge of every dualwrite column's path
    DIR/findings.txt       declaration check (empty when YAML and SQL agree)
    DIR/build.json         the database, its last build (time, status, loads covered) and any problem
    DIR/reconciliation.csv|json, rejects.csv|json, files.csv|json   the proof: per entity, per row, per file
    DIR/dbt-docs/          dbt docs site, every column described (static_index.html opens offline)

Artifacts come from a fresh `dbt docs generate` into a private target path, with the build's vars, or from the
build's own target dir with --no-docs. The tests' results are those recorded in the database by its build
(p2c.build.record), never another database's `target/run_results.json`."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2c.build.record import RUNNING, BuildEvidence, BuildRecord, read_evidence, target_dir_for
from p2c.contract.artifacts import RUN_RESULTS, Artifacts, load_artifacts
from p2c.database import check_existing, check_writable_folder, reading
from p2c.errors import P2CError, UsageError
from p2c.lineage.audit_tables import (
    FILE_COLUMNS,
    REJECT_COLUMNS,
    TARGET_STATE_COLUMNS,
    AuditTables,
    read_audit_tables,
)
from p2c.lineage.docs_site import write_docs_site
from p2c.lineage.export import write_csv, write_json
from p2c.lineage.pack_contents import AuditPack, build_audit
from p2c.lineage.report_html import render_report
from p2c.output import Column, emit_csv, emit_json
from p2c.settings import project_dir as find_project_dir


class DocsGenerateFailed(P2CError):
    """dbt could not compile the project or generate its docs against the database."""


@dataclass
class PackResult:
    out_dir: Path
    pack: AuditPack
    files: list[Path] = field(default_factory=list)
    descriptions_written: int = 0
    context: BuildContext | None = None
    tables: AuditTables = field(default_factory=lambda: AuditTables())


def run_dbt_into(
    command: list[str],
    db_path: Path,
    project_dir: Path,
    target: Path,
    dbt_vars: dict[str, Any] | None = None,
) -> None:
    """Run a dbt command against the database with its artifacts written to `target` (never the build's
    target, whose manifest other commands rewrite without compiled SQL and whose run_results.json belongs to
    the build). `dbt_vars` are the build's: the lineage must be computed from the SQL that was built."""
    from p2c.build.dbt import dbt_args, invoke_dbt

    args = dbt_args(
        " ".join(command),
        project_dir=project_dir,
        dbt_vars=dbt_vars,
        extra=["--quiet", "--no-use-colors", "--target-path", str(target)],
    )
    outcome = invoke_dbt(args, db_path)
    if not outcome.success:
        reason = str(outcome.exception or "").strip() or "see the dbt log (logs/dbt.log)"
        raise DocsGenerateFailed(f"dbt {' '.join(command)} failed: {reason}")


def generate_docs(
    db_path: Path, project_dir: Path, target: Path, dbt_vars: dict[str, Any] | None = None
) -> None:
    """`dbt docs generate` against the built database: compiled manifest + catalog + the docs site."""
    run_dbt_into(["docs", "generate"], db_path, project_dir, target, dbt_vars)


def _invocation_id(document: dict[str, Any] | None) -> str | None:
    return ((document or {}).get("metadata") or {}).get("invocation_id")


def compiled_artifacts(
    db_path: Path,
    project_dir: Path,
    scratch: Path,
    target: Path | None = None,
    build: BuildRecord | None = None,
) -> Artifacts:
    """Artifacts with compiled SQL: `target` when its manifest has it (after `dbt build`), no project file
    changed since and, when the database's build is known, the manifest is that build's; else a fresh
    `dbt compile` into scratch with the build's vars: lineage from stale or foreign SQL would vouch for code
    that is not what built this database."""
    if target is not None and _is_current(target / "manifest.json", project_dir):
        artifacts = load_artifacts(target)
        models = [n for n in artifacts.manifest["nodes"].values() if n.get("resource_type") == "model"]
        same_build = build is None or (
            build.invocation_id is not None and _invocation_id(artifacts.manifest) == build.invocation_id
        )
        if same_build and models and all(n.get("compiled_code") for n in models):
            return artifacts
    run_dbt_into(["compile"], db_path, project_dir, scratch, build.vars if build else None)
    return load_artifacts(scratch)


def _is_current(manifest: Path, project_dir: Path) -> bool:
    """True when the manifest is newer than every file dbt reads to compile the project (SQL, YAML, seeds)."""
    if not manifest.is_file():
        return False
    written = manifest.stat().st_mtime
    sources = [project_dir / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "data-tests"):
        sources.extend(path for path in (project_dir / folder).rglob("*") if path.is_file())
    return all(path.stat().st_mtime <= written for path in sources if path.exists())


class BuildNotVerified(P2CError):
    """The database has no successful build that covers its data: the pack would vouch for nothing."""


@dataclass(frozen=True)
class BuildContext:
    """What the pack may say about the database's build, and the test results that belong to it."""

    evidence: BuildEvidence | None
    run_results: dict[str, Any] | None
    results_from: str
    problems: list[str]

    def header(self) -> dict[str, Any]:
        """The first screen of the report and build.json."""
        record = self.evidence.record if self.evidence else None
        return {
            "database": str(self.evidence.db_path) if self.evidence else None,
            "verified": not self.problems,
            "problems": self.problems,
            "build": record.as_dict() if record else None,
            "test_results_from": self.results_from,
            "loads_now": list(self.evidence.current_loads) if self.evidence else [],
            "landed_files_now": self.evidence.current_files if self.evidence else 0,
        }


def build_context(db_path: Path | None, build_target: Path | None) -> BuildContext:
    """The database's own build record decides; a target folder given by the caller is used only for a
    database without a record (and then said to be unverified) or when its results are that build's."""
    if db_path is None or not db_path.is_file():
        results = (
            load_artifacts(build_target).run_results if build_target and _has_manifest(build_target) else None
        )
        return BuildContext(
            None, results, str(build_target), ["no database: the test results are not verified"]
        )
    with reading(db_path) as con:
        evidence = read_evidence(con, db_path)
    problems = list(evidence.problems)
    record = evidence.record
    if record is not None:
        given = (
            load_artifacts(build_target).run_results if build_target and _has_manifest(build_target) else None
        )
        if given is not None and build_target and _invocation_id(given) != record.invocation_id:
            problems.append(
                f"{build_target / RUN_RESULTS} is from another dbt run than the build recorded in"
                f" {db_path.name} (invocation {_invocation_id(given)},"
                f" recorded {record.invocation_id}): not used"
            )
        if record.run_results is None and record.status != RUNNING:
            problems.append("the recorded build left no test results (dbt stopped before writing them)")
        return BuildContext(evidence, record.run_results, f"the build recorded in {db_path}", problems)
    results = (
        load_artifacts(build_target).run_results if build_target and _has_manifest(build_target) else None
    )
    if results is not None:
        problems.append(f"test results read from {build_target}, which cannot be matched to this database")
    return BuildContext(evidence, results, str(build_target) if results else "none", problems)


def _has_manifest(target: Path) -> bool:
    return (target / "manifest.json").is_file()


def _with_results(artifacts: Artifacts, run_results: dict[str, Any] | None) -> Artifacts:
    """Test results come from the database's build, not from docs generate (which records compile steps)."""
    return Artifacts(artifacts.target_dir, artifacts.manifest, artifacts.catalog, run_results)


def check_out_dir(out_dir: Path) -> None:
    """The pack's folder must be a folder we can write, checked before any work (and before creating it)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file: give a folder for the audit pack")
    try:
        check_writable_folder(out_dir, purpose="the audit pack is written there")
    except P2CError as error:
        raise UsageError(f"cannot write the audit pack: {error.message}", hint=error.hint) from None


def write_pack(
    out_dir: Path,
    db_path: Path | None,
    *,
    project_dir: Path | None = None,
    build_target: Path | None = None,
    docs: bool = True,
    strict: bool = False,
) -> PackResult:
    """Write the pack. `strict` (the CLI's default): refuse, before writing anything, a database whose last
    build did not succeed, does not cover its landed files, or was never recorded. Otherwise the report and
    build.json carry the problems as a banner."""
    project_dir = project_dir or find_project_dir()
    check_out_dir(out_dir)
    if docs and (db_path is None or not db_path.is_file()):
        # dbt-duckdb would silently create an empty database file and document nothing
        raise DocsGenerateFailed(f"no database at {db_path}: run `p2c load` and `p2c build` first (or --db)")
    if db_path is not None and db_path.is_file():
        check_existing(db_path)
    context = build_context(db_path, build_target)
    if strict and context.problems:
        raise BuildNotVerified(
            "refusing to write an audit pack that would vouch for an unverified build:\n  - "
            + "\n  - ".join(context.problems),
            hint="run `p2c build` on this database (and fix what fails), or pass --allow-unverified to write "
            "the pack with the problems as a banner",
        )
    record = context.evidence.record if context.evidence else None
    build_target = build_target or (Path(record.target_dir) if record and record.target_dir else None)
    if build_target is None and db_path is not None:
        build_target = target_dir_for(db_path)
    assert build_target is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="p2c-lineage-") as scratch:
        if docs:
            assert db_path is not None
            docs_target = Path(scratch) / "target"
            generate_docs(db_path, project_dir, docs_target, record.vars if record else None)
            artifacts = _with_results(load_artifacts(docs_target), context.run_results)
        elif db_path is not None and db_path.is_file():
            compiled = compiled_artifacts(
                db_path, project_dir, Path(scratch) / "target", build_target, record
            )
            artifacts = _with_results(compiled, context.run_results)
        else:
            artifacts = load_artifacts(build_target)
        pack = build_audit(artifacts, db_path if db_path is not None and db_path.is_file() else None)
        result = PackResult(out_dir=out_dir, pack=pack, context=context)
        if docs:
            stats = write_docs_site(docs_target, out_dir / "dbt-docs", pack)
            result.descriptions_written = stats["descriptions_written"]
            if context.run_results is not None:
                (out_dir / "dbt-docs" / RUN_RESULTS).write_text(
                    json.dumps(context.run_results), encoding="utf-8"
                )
    tables = AuditTables()
    if db_path is not None and db_path.is_file():
        with reading(db_path) as con:
            tables = read_audit_tables(con)
    result.tables = tables
    report = out_dir / "report.html"
    report.write_text(render_report(pack, context=context.header(), tables=tables), encoding="utf-8")
    write_csv(pack, out_dir / "lineage.csv")
    write_json(pack, out_dir / "lineage.json")
    findings = out_dir / "findings.txt"
    findings.write_text("".join(f"{f}\n" for f in pack.findings), encoding="utf-8")
    result.files = [report, out_dir / "lineage.csv", out_dir / "lineage.json", findings]
    result.files += write_audit_tables(out_dir, tables, context.header())
    return result


def write_audit_tables(out_dir: Path, tables: AuditTables, header: dict[str, Any]) -> list[Path]:
    """build.json, reconciliation.csv|json, rejects.csv|json, files.csv|json, target_states.csv|json."""
    written = [out_dir / "build.json"]
    written[0].write_text(json.dumps(header, indent=1, default=str, ensure_ascii=False), encoding="utf-8")
    reconciliation_columns = [Column(name) for name in tables.reconciliation_columns] or [Column("entity")]
    for name, rows, columns in (
        ("reconciliation", tables.reconciliation, reconciliation_columns),
        ("rejects", tables.rejects, list(REJECT_COLUMNS)),
        ("files", tables.files, list(FILE_COLUMNS)),
        ("target_states", tables.target_states, list(TARGET_STATE_COLUMNS)),
    ):
        with (out_dir / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            emit_csv(rows, columns, handle)
        with (out_dir / f"{name}.json").open("w", encoding="utf-8") as handle:
            emit_json(rows, handle)
        written += [out_dir / f"{name}.csv", out_dir / f"{name}.json"]
    return written
