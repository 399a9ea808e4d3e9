"""The audit pack tells the truth about its own database: two databases built side by side with the real
CLI, one successfully (A), one never built and then built with an error (B). B's pack is refused (exit 2, with
the reason, nothing written) even though A's build artifacts are right there; A's pack names A, its build and
its loads, and carries the reconciliation, the rejects with their source rows and the landed files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from p2c.cli import app
from p2c.errors import ExitCode


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("two_dbs")
    sample = root / "sample"
    a, b = root / "a.duckdb", root / "b.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DBT_TARGET_PATH", raising=False)  # each database keeps its own <db>.target/
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        assert _run("sample", str(sample), "--scale", "4")[0] == 0
        assert _run("load", str(sample / "USMF"), "--company", "USMF", "--db", str(a))[0] == 0
        assert _run("load", str(sample / "GBSI"), "--company", "GBSI", "--db", str(b))[0] == 0
        code, stdout, stderr = _run("build", "--db", str(a), "--format", "json")
        assert code == 0, stderr
        (root / "build-a.json").write_text(stdout)
    return {"root": root, "a": a, "b": b, "sample": sample}


def test_build_json_names_the_database_and_its_status(side_by_side: dict[str, Path]) -> None:
    document = json.loads((side_by_side["root"] / "build-a.json").read_text())
    assert document["database"] == str(side_by_side["a"])
    assert document["status"] == "success" and document["ok"] is True
    assert {node["status"] for node in document["nodes"]} <= {"success", "pass", "warn"}
    assert (side_by_side["root"] / "a.duckdb.target" / "run_results.json").is_file()


def test_pack_of_a_database_that_was_never_built_is_refused(side_by_side: dict[str, Path]) -> None:
    out = side_by_side["root"] / "pack-b"
    code, _, stderr = _run("lineage", "pack", "--db", str(side_by_side["b"]), "--out", str(out))
    assert code == ExitCode.CANNOT_RUN
    assert "has no recorded build" in stderr
    assert not out.exists()
    # even when pointed at A's artifacts
    target = side_by_side["root"] / "a.duckdb.target"
    args = ["--db", str(side_by_side["b"]), "--out", str(out), "--target", str(target), "--no-docs"]
    code, _, stderr = _run("lineage", "pack", *args)
    assert code == ExitCode.CANNOT_RUN and "has no recorded build" in stderr
    assert not out.exists()


def test_pack_right_after_a_failed_build_is_refused_or_bannered(side_by_side: dict[str, Path]) -> None:
    b = side_by_side["b"]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DBT_TARGET_PATH", raising=False)
        patch.setenv("DBT_LOG_PATH", str(side_by_side["root"] / "logs"))
        code, _, _ = _run("build", "--db", str(b), "--var", "max_key_length=not_a_number")
        assert code == ExitCode.FAILED_ROWS
        out = side_by_side["root"] / "pack-b-failed"
        code, _, stderr = _run("lineage", "pack", "--db", str(b), "--out", str(out), "--no-docs")
        assert code == ExitCode.CANNOT_RUN
        assert "is FAILED" in stderr
        assert not out.exists()
        code, _, stderr = _run(
            "lineage", "pack", "--db", str(b), "--out", str(out), "--no-docs", "--allow-unverified"
        )
    assert code == ExitCode.FAILED_ROWS
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "NOT VERIFIED" in report and "is FAILED" in report
    assert report.index("NOT VERIFIED") < report.index('id="t-')  # before any lineage: the first screen
    assert json.loads((out / "build.json").read_text())["verified"] is False


def test_pack_of_the_built_database_carries_its_proof(side_by_side: dict[str, Path]) -> None:
    a = side_by_side["a"]
    out = side_by_side["root"] / "pack-a"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DBT_TARGET_PATH", raising=False)
        patch.setenv("DBT_LOG_PATH", str(side_by_side["root"] / "logs"))
        code, _, stderr = _run("lineage", "pack", "--db", str(a), "--out", str(out), "--no-docs")
    assert code == 0, stderr
    build = json.loads((out / "build.json").read_text())
    assert build["database"] == str(a) and build["verified"] is True
    assert build["build"]["status"] == "success" and len(build["build"]["loads"]) == 1
    report = (out / "report.html").read_text(encoding="utf-8")
    first_screen = report[: report.index('id="t-')]
    assert str(a) in first_screen and "SUCCESS" in first_screen and build["build"]["loads"][0] in first_screen
    for section in ('id="reconciliation"', 'id="rejects"', 'id="files"', 'id="target-states"'):
        assert section in first_screen
    reconciliation = json.loads((out / "reconciliation.json").read_text())
    assert {row["entity"] for row in reconciliation} >= {"account", "salesorder"}
    assert all(row["difference"] == 0 for row in reconciliation)
    rejects = list(csv.DictReader(io.StringIO((out / "rejects.csv").read_text())))
    relecloud = [r for r in rejects if r["entity"] == "account" and r["reason_code"] == "missing_key"]
    assert len(relecloud) == 1
    assert relecloud[0]["excel_row"] == str(int(relecloud[0]["data_row"]) + 1)
    assert "Relecloud" in relecloud[0]["source_values"]
    files = json.loads((out / "files.json").read_text())
    assert files and all(len(f["sha256"]) == 64 for f in files)


def test_rejects_command_exports_them(side_by_side: dict[str, Path]) -> None:
    code, stdout, _ = _run("rejects", "--db", str(side_by_side["a"]), "--format", "json")
    assert code == 0
    rows = json.loads(stdout)
    assert {"stage", "reason", "source_file", "data_row", "excel_row", "source_values"} <= set(rows[0])
    code, stdout, _ = _run(
        "rejects", "--db", str(side_by_side["a"]), "--format", "csv", "--entity", "salesorder"
    )
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(stdout)))
    assert parsed and {r["entity"] for r in parsed} == {"salesorder"}


def test_trace_of_a_rejected_record_and_a_piped_trace(side_by_side: dict[str, Path]) -> None:
    a = side_by_side["a"]
    code, stdout, _ = _run("rejects", "--db", str(a), "--format", "json", "--entity", "salesorder")
    [order] = [r for r in json.loads(stdout) if r["business_key"]]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DBT_TARGET_PATH", raising=False)
        patch.setenv("DBT_LOG_PATH", str(side_by_side["root"] / "logs"))
        code, stdout, stderr = _run(
            "lineage", "trace", "salesorder", "USMF", order["business_key"], "--db", str(a)
        )
        assert code == 0, stderr
        assert "was REJECTED" in stdout and order["reason"] in stdout
        assert f"data row {order['data_row']} (Excel row {order['excel_row']})" in stdout
        code, stdout, _ = _run(
            "lineage",
            "trace",
            "salesorder",
            "USMF",
            order["business_key"],
            "--db",
            str(a),
            "--format",
            "json",
        )
        assert json.loads(stdout)["status"] == "rejected"
        with duckdb.connect(str(a), read_only=True) as con:
            [(number, file)] = con.execute(
                "select accountnumber, _source_file from dualwrite.account where msdyn_company = 'USMF'"
                " order by accountnumber limit 1"
            ).fetchall()
        code, stdout, stderr = _run("lineage", "trace", "account", "USMF", number, "--db", str(a))
        assert code == 0, stderr
        assert file in stdout  # the whole file name on one line, never split or cut
        assert "…" not in stdout and "None" not in stdout
        assert "(Excel row " in stdout
        code, stdout, _ = _run(
            "lineage", "trace", "account", "USMF", number, "--db", str(a), "--format", "json"
        )
        document = json.loads(stdout)
        assert document["source"]["excel_row"] == document["source"]["data_row"] + 1
        code, stdout, _ = _run("lineage", "check", "--db", str(a), "--format", "json")
        assert code == 0 and json.loads(stdout) == []


def test_report_fits_1400_pixels_without_horizontal_scrolling(side_by_side: dict[str, Path]) -> None:
    import re
    import shutil
    import subprocess

    browser = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    if browser is None:
        pytest.skip("headless Chromium not installed (make test installs it as root)")
    report = side_by_side["root"] / "pack-a" / "report.html"
    if not report.is_file():
        pytest.skip("the pack of A was not written (see test_pack_of_the_built_database_carries_its_proof)")
    probe = report.with_name("probe.html")
    measure = (
        "<script>window.addEventListener('load', () => document.body.setAttribute('data-overflow',"
        " String(document.documentElement.scrollWidth - document.documentElement.clientWidth)));</script>"
    )
    probe.write_text(
        report.read_text(encoding="utf-8").replace("</body>", measure + "</body>"), encoding="utf-8"
    )
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,900",
            f"--user-data-dir={side_by_side['root'] / 'chromium'}",
            "--dump-dom",
            probe.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-overflow="(-?\d+)"', result.stdout)
    assert found is not None
    assert int(found.group(1)) <= 0
    css = report.read_text(encoding="utf-8")
    assert "@media print" in css and "break-all" not in css
