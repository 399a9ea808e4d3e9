"""The audit pack never vouches for stale SQL: a manifest older than any project file is not reused."""

from __future__ import annotations

import os
from pathlib import Path

from p2c.lineage.pack_writer import _is_current


def _project(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: x\n")
    model = project / "models" / "account.sql"
    model.write_text("select 1 as accountnumber\n")
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    return project, manifest


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_manifest_newer_than_every_project_file_is_current(tmp_path: Path) -> None:
    project, manifest = _project(tmp_path)
    _age(project / "models" / "account.sql", 60)
    _age(project / "dbt_project.yml", 60)
    assert _is_current(manifest, project)


def test_a_model_edited_after_the_build_makes_the_manifest_stale(tmp_path: Path) -> None:
    project, manifest = _project(tmp_path)
    _age(manifest, 60)
    assert not _is_current(manifest, project)


def test_missing_manifest_is_not_current(tmp_path: Path) -> None:
    project, manifest = _project(tmp_path)
    manifest.unlink()
    assert not _is_current(manifest, project)
