"""`p2c lineage pack --out DIR`: the auditor's pack.

    DIR/report.html        self-contained report (offline; search; graph per column)
    DIR/lineage.csv|json   one row per edge of every dualwrite column's path
    DIR/findings.txt       declaration check (empty when YAML and SQL agree)
    DIR/dbt-docs/          dbt docs site, every column described (static_index.html opens offline)

Artifacts come from a fresh `dbt docs generate` into a private target path (so the build's run_results.json,
which holds the tests' last results, is not overwritten), or from an existing target dir with --no-docs."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from p2c.contract.artifacts import RUN_RESULTS, Artifacts, load_artifacts
from p2c.errors import P2CError
from p2c.lineage.docs_site import write_docs_site
from p2c.lineage.export import write_csv, write_json
from p2c.lineage.pack_contents import AuditPack, build_audit
from p2c.lineage.report_html import render_report
from p2c.settings import project_dir as find_project_dir


class DocsGenerateFailed(P2CError):
    """dbt could not compile the project or generate its docs against the database."""


@dataclass
class PackResult:
    out_dir: Path
    pack: AuditPack
    files: list[Path] = field(default_factory=list)
    descriptions_written: int = 0


def run_dbt_into(command: list[str], db_path: Path, project_dir: Path, target: Path) -> None:
    """Run a dbt command against the database with its artifacts written to `target` (never ./target, whose
    manifest other commands rewrite without compiled SQL and whose run_results.json belongs to the build)."""
    from p2c.build.dbt import dbt_args, invoke_dbt

    args = dbt_args(
        " ".join(command), project_dir=project_dir, extra=["--quiet", "--target-path", str(target)]
    )
    outcome = invoke_dbt(args, db_path)
    if not outcome.success:
        raise DocsGenerateFailed(f"dbt {' '.join(command)} failed: {outcome.exception or 'see the dbt log'}")


def generate_docs(db_path: Path, project_dir: Path, target: Path) -> None:
    """`dbt docs generate` against the built database: compiled manifest + catalog + the docs site."""
    run_dbt_into(["docs", "generate"], db_path, project_dir, target)


def compiled_artifacts(
    db_path: Path, project_dir: Path, scratch: Path, target: Path | None = None
) -> Artifacts:
    """Artifacts with compiled SQL: `target` when its manifest has it (after `dbt build`) and no project file
    changed since, else a fresh `dbt compile` into scratch: lineage from stale SQL would vouch for code that
    is no longer there."""
    if target is not None and _is_current(target / "manifest.json", project_dir):
        artifacts = load_artifacts(target)
        models = [n for n in artifacts.manifest["nodes"].values() if n.get("resource_type") == "model"]
        if models and all(n.get("compiled_code") for n in models):
            return artifacts
    run_dbt_into(["compile"], db_path, project_dir, scratch)
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


def _with_build_results(artifacts: Artifacts, build_target: Path) -> Artifacts:
    """Test results come from the last build, not from docs generate (which records only compile steps)."""
    build = load_artifacts(build_target) if (build_target / "manifest.json").is_file() else None
    run_results = build.run_results if build is not None else None
    return Artifacts(artifacts.target_dir, artifacts.manifest, artifacts.catalog, run_results)


def write_pack(
    out_dir: Path,
    db_path: Path | None,
    *,
    project_dir: Path | None = None,
    build_target: Path | None = None,
    docs: bool = True,
) -> PackResult:
    project_dir = project_dir or find_project_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    build_target = build_target or project_dir / "target"
    with tempfile.TemporaryDirectory(prefix="p2c-lineage-") as scratch:
        if docs:
            if db_path is None or not db_path.is_file():
                # dbt-duckdb would silently create an empty database file and document nothing
                raise DocsGenerateFailed(
                    f"no database at {db_path}: run `p2c load` and `p2c build` first (or --db)"
                )
            docs_target = Path(scratch) / "target"
            generate_docs(db_path, project_dir, docs_target)
            artifacts = _with_build_results(load_artifacts(docs_target), build_target)
        elif db_path is not None and db_path.is_file():
            compiled = compiled_artifacts(db_path, project_dir, Path(scratch) / "target", build_target)
            artifacts = _with_build_results(compiled, build_target)
        else:
            artifacts = load_artifacts(build_target)
        pack = build_audit(artifacts, db_path if db_path is not None and db_path.is_file() else None)
        result = PackResult(out_dir=out_dir, pack=pack)
        if docs:
            stats = write_docs_site(docs_target, out_dir / "dbt-docs", pack)
            result.descriptions_written = stats["descriptions_written"]
            if (build_target / RUN_RESULTS).is_file():
                shutil.copyfile(build_target / RUN_RESULTS, out_dir / "dbt-docs" / RUN_RESULTS)
    report = out_dir / "report.html"
    report.write_text(render_report(pack), encoding="utf-8")
    write_csv(pack, out_dir / "lineage.csv")
    write_json(pack, out_dir / "lineage.json")
    findings = out_dir / "findings.txt"
    findings.write_text("".join(f"{f}\n" for f in pack.findings), encoding="utf-8")
    result.files = [report, out_dir / "lineage.csv", out_dir / "lineage.json", findings]
    return result
