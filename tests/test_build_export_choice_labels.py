"""A choice label the rules do not know is checked against the labels the export itself lists, end to end:
the sample's own workbook writer (hidden metadata sheet included) writes an accounts export whose Relationship
Type has an option the tenant added, and a row whose cell holds text typed over the drop-down; a CSV of the
same accounts has no metadata. `p2c load` and `p2c build` then reject each row with the reason of its case."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from p2c.cli import app
from p2c.errors import ExitCode
from p2c.sample import formats, writers_xlsx
from p2c.sample.columns import EXPORT_COLUMNS
from p2c.sample.dataset import EXPORT_TIME, companies
from p2c.sample.formats import TEXT_LOCALES, Record, text_renderer
from p2c.sample.labels import ENGLISH, header
from p2c.sample.writers_csv import EXCEL_UTF8_COMMA, CsvExport
from p2c.sample.writers_xlsx import XlsxExport

CUSTOMIZED = 100000000  # an option the tenant added to Relationship Type: the metadata sheet lists it
TYPED = -1  # text a user typed over the drop-down: in its cell only, the metadata sheet does not list it
EXTRA_LABELS = {CUSTOMIZED: "Distributor", TYPED: "Kunde?"}
COLUMNS = EXPORT_COLUMNS["account"]
HEADERS = [header("account", column.logical_name, ENGLISH) for column in COLUMNS]


@pytest.fixture
def tenant_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tenant's Relationship Type: the standard options and Distributor, unknown to seed choice_labels."""
    real_label, real_labels = writers_xlsx.choice_label, writers_xlsx.choice_labels

    def label(table_name: str, logical_name: str, value: int, language_code: int) -> str:
        if (table_name, logical_name) == ("account", "customertypecode") and value in EXTRA_LABELS:
            return EXTRA_LABELS[value]
        return real_label(table_name, logical_name, value, language_code)

    def labels(table_name: str, logical_name: str, language_code: int) -> tuple[str, ...]:
        found = real_labels(table_name, logical_name, language_code)
        if (table_name, logical_name) == ("account", "customertypecode"):
            return (*found, EXTRA_LABELS[CUSTOMIZED])
        return found

    monkeypatch.setattr(writers_xlsx, "choice_label", label)
    monkeypatch.setattr(writers_xlsx, "choice_labels", labels)
    monkeypatch.setattr(formats, "choice_label", label)


def _workbook(path: Path, records: Sequence[Record]) -> Path:
    with XlsxExport(path, "account", COLUMNS, HEADERS, ENGLISH, EXPORT_TIME) as workbook:
        workbook.sheet("Active Accounts")
        for record in records:
            workbook.write(record)
    return path


def _csv(path: Path, records: Sequence[Record]) -> Path:
    render = text_renderer("account", COLUMNS, TEXT_LOCALES["en"])
    export = CsvExport(path, HEADERS, render, EXCEL_UTF8_COMMA)
    for record in records:
        export.write(record)
    export.close()
    return path


def test_unknown_relationship_types_say_what_the_export_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenant_labels: None
) -> None:
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    usmf, gbsi = companies(seed=7, scale=4)
    usmf_accounts = list(usmf.accounts())[:3]
    usmf_accounts[0]["customertypecode"] = CUSTOMIZED
    usmf_accounts[1]["customertypecode"] = TYPED
    gbsi_accounts = list(gbsi.accounts())[:2]
    gbsi_accounts[0]["customertypecode"] = TYPED
    workbook = _workbook(tmp_path / "Active Accounts 11-25-2026 9-38-46 AM.xlsx", usmf_accounts)
    csv_file = _csv(tmp_path / "Active Accounts 11-25-2026 9-45-46 AM.csv", gbsi_accounts)
    db = tmp_path / "labels.duckdb"
    runner = CliRunner()
    for path, company in ((workbook, "USMF"), (csv_file, "GBSI")):
        loaded = runner.invoke(app, ["load", str(path), "--company", company, "--db", str(db)])
        assert loaded.exit_code == ExitCode.OK, loaded.output
    built = runner.invoke(app, ["build", "--db", str(db)])
    assert built.exit_code == ExitCode.OK, built.output

    with duckdb.connect(str(db), read_only=True) as con:
        [(schema,)] = con.execute(
            "select table_schema from information_schema.tables where table_name = 'dualwrite_rejects'"
        ).fetchall()
        rejects = con.execute(
            "select company, business_key, reason_code, reason, _source_file"
            f' from "{schema}".dualwrite_rejects order by company, _source_row'
        ).fetchall()
        initialized = con.execute(
            "select msdyn_company, accountnumber from dualwrite.account order by 1, 2"
        ).fetchall()
    numbers = {
        "USMF": [account["accountnumber"] for account in usmf_accounts],
        "GBSI": [account["accountnumber"] for account in gbsi_accounts],
    }
    code = "unrecognized_relationship_type"
    assert rejects == [
        # the CSV has no metadata sheet: nothing is known about the column's labels, the reason is as before
        ("GBSI", numbers["GBSI"][0], code, "unrecognized relationship type: Kunde?", str(csv_file.resolve())),
        # (b) a label of the column in the export that the rules lack: the fix is a row of the seed
        (
            "USMF",
            numbers["USMF"][0],
            code,
            "unrecognized relationship type: Distributor is a label of this column in the export but not in"
            " seed choice_labels: add it to seeds/choice_labels.csv (table_name account, logical_name"
            " customertypecode) with its option value and language code",
            str(workbook.resolve()),
        ),
        # (a) no label of the column in the export: the export's own labels are listed
        (
            "USMF",
            numbers["USMF"][1],
            code,
            "unrecognized relationship type: Kunde? is not a label of this column (the export lists:"
            " Competitor | Consultant | Customer | Investor | Partner | Influencer | Press | Prospect"
            " | Reseller | Supplier | Vendor | Other | Distributor)",
            str(workbook.resolve()),
        ),
    ]
    assert initialized == [("GBSI", numbers["GBSI"][1]), ("USMF", numbers["USMF"][2])]
