"""What `p2c results` and `p2c lineage trace` say is true for the environment they name (issue 19): an
outcome recorded in another organization (the environment reset at the same URL) is named as such, outcomes
whose rows left the build are reported, and results read from a build older than the last load say so."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import test_upload
from conftest import SampleBuild
from test_upload import Stage

from p2c.errors import ExitCode

# test_upload.py's fixtures: the session's build, and a copy of it with its own emulator per test
built, stage = test_upload.built, test_upload.stage


def _words(text: str) -> str:
    """The output as one line: rich wraps long lines at the terminal width."""
    return " ".join(text.split())


def _organizations(stage: Stage) -> list[str]:
    return [str(o) for (o,) in stage.query("select organization_id from upload.runs order by started_at")]


def _reset_at_the_same_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """From now on WhoAmI answers another OrganizationId at the same URL, as after `p2c emulator --reset`
    (a new organization seeded from the same export, its records holding none of the uploaded values)."""
    from p2c.dataverse import DataverseClient
    from p2c.dataverse.results import WhoAmI

    real = DataverseClient.whoami
    other = str(uuid.uuid4())

    def whoami(self: DataverseClient) -> WhoAmI:
        me = real(self)
        return WhoAmI(me.user_id, me.business_unit_id, other)

    monkeypatch.setattr(DataverseClient, "whoami", whoami)
    return other


def _a_gbsi_contact(stage: Stage) -> str:
    [(number,)] = stage.query(
        "select msdyn_contactpersonid from dualwrite.contact where msdyn_company = 'GBSI' order by 1 limit 1"
    )
    return str(number)


def test_the_trace_names_the_organization_and_an_outcome_of_an_earlier_environment_is_not_called_current(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploaded, then the environment reset at the same URL and only a plan run since: the trace says the
    contact was updated in the old organization, an earlier environment, and is not yet written in the new one
    (as `p2c results` shows it to do); once uploaded there, the trace says updated in the new organization."""
    number = _a_gbsi_contact(stage)
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    [old] = _organizations(stage)
    new = _reset_at_the_same_url(monkeypatch)
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--out", str(stage.db.parent / "plan.json")
    )
    assert planned.exit_code == ExitCode.OK, planned.output

    traced = stage.p2c("lineage", "trace", "contact", "GBSI", number, "--db", str(stage.db))
    assert traced.exit_code == ExitCode.OK, traced.output
    said = _words(traced.stdout)
    assert f"updated in organization {old}" in said, said
    assert "an earlier environment" in said, said
    assert f"in organization {new}, the latest one met: not yet written" in said, said
    document = json.loads(
        stage.p2c(
            "lineage", "trace", "contact", "GBSI", number, "--db", str(stage.db), "--format", "json"
        ).stdout
    )
    assert document["upload"] is None, document["upload"]
    assert document["upload_organization_id"] == new
    assert document["upload_elsewhere"]["organization_id"] == old
    assert document["upload_elsewhere"]["status"] == "updated"

    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    again = _words(stage.p2c("lineage", "trace", "contact", "GBSI", number, "--db", str(stage.db)).stdout)
    # written in the new organization (found holding the values there: this reset kept the records)
    assert f"in organization {new} to {stage.env} (run " in again, again
    assert "earlier environment" not in again, again


def _reconciliation(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["table_name"]: r for r in document["reconciliation"]}


def test_results_report_outcomes_whose_rows_left_the_build_and_a_build_older_than_the_last_load(
    stage: Stage, sample_build: SampleBuild
) -> None:
    """Uploaded, then one contacts file unloaded: until the next build the results say the build is older
    than the last load (and still show); after it, they say how many contacts the run wrote whose rows are no
    longer in the build, so that the run's counts and the reconciliation add up."""
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    [(run_id,)] = stage.query("select run_id from upload.runs")
    fresh = json.loads(stage.p2c("results", "--db", str(stage.db), "--format", "json").stdout)
    assert fresh["build_problems"] == [] and fresh["not_in_build"] == [], fresh
    contacts = _reconciliation(fresh)["contact"]

    gbsi = sample_build.sample_dir / "GBSI"
    [contacts_file] = gbsi.glob("Mina aktiva kontakter*.csv")
    unloaded = stage.p2c("unload", str(contacts_file), "--db", str(stage.db))
    assert unloaded.exit_code == ExitCode.OK, unloaded.output
    stale = stage.p2c("results", "--db", str(stage.db))
    assert stale.exit_code == ExitCode.OK, stale.output
    assert "files were landed or replaced after the last build" in _words(stale.stdout), stale.stdout
    assert "reconciliation against" in stale.stdout  # the results still show
    stale_json = json.loads(stage.p2c("results", "--db", str(stage.db), "--format", "json").stdout)
    assert any("after the last build" in p for p in stale_json["build_problems"]), stale_json

    built = stage.p2c("build", "--db", str(stage.db))
    assert built.exit_code == ExitCode.OK, built.output
    listed = stage.p2c("results", "--db", str(stage.db), "--format", "json")
    document = json.loads(listed.stdout)
    assert document["build_problems"] == [], document
    gone = _reconciliation(document)["contact"]
    left = contacts["target_rows"] - gone["target_rows"]
    assert left > 0 and gone["not_in_build"] == left, (contacts, gone)
    assert gone["difference"] == 0
    # the contacts, and the rows built from them (their quotes, orders ...) that went with them
    by_table = {g["table_name"]: g for g in document["not_in_build"]}
    assert by_table["contact"] == {
        "table_name": "contact",
        "run_id": run_id,
        "status": "updated",
        "rows": left,
    }
    assert all(_reconciliation(document)[t]["not_in_build"] == g["rows"] for t, g in by_table.items())
    # the run's counts and the reconciliation plus what left the build add up
    [(rows_updated,)] = stage.query("select rows_updated from upload.runs")
    reconciled = document["reconciliation"]
    assert rows_updated == sum(r["updated"] + r["not_in_build"] for r in reconciled)
    shown = _words(stage.p2c("results", "--db", str(stage.db)).stdout)
    assert f"{left} contact rows written by run {run_id} are no longer in the build" in shown, shown
