"""`p2c sample`: write a realistic Dynamics 365 Sales export set, the input of `p2c load`.

Layout (kept exactly: `make demo` loads each folder separately):

- `USMF/`: Excel "static worksheet" exports, one workbook per entity, English display-name headers, hidden
  `(Do Not Modify)` columns, real dates and numbers; the contacts workbook has a second sheet (inactive
  contacts).
- `GBSI/`: the same entities saved as CSV by a user in `language` (default Swedish): localized headers,
  choice labels, dates and decimals; `;`, UTF-8 with BOM, CRLF; the products file in Windows-1252.
- `multi-company/`: quotes and quote lines of both companies as a Web API / Power Query dump: logical-name
  headers, a `msdyn_company` column, `,`, UTF-8 without BOM, LF, ISO 8601 dates.

Neither USMF/ nor GBSI/ files carry a company column (P2C had none): load them with `--company`. Each record
is in exactly one file. What the data contains, and its deliberately bad rows, is listed in
`p2c.sample.dataset`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from p2c.sample.columns import EXPORT_COLUMNS, WEBAPI_COLUMNS
from p2c.sample.dataset import EXPORT_TIME, FAMILIES, CompanyData, companies
from p2c.sample.formats import TEXT_LOCALES, Record, text_renderer
from p2c.sample.labels import ENGLISH, LANGUAGE_CODES, header
from p2c.sample.writers_csv import (
    EXCEL_CP1252_SEMICOLON,
    EXCEL_UTF8_COMMA,
    EXCEL_UTF8_SEMICOLON,
    WEBAPI,
    CsvExport,
    CsvShape,
)
from p2c.sample.writers_xlsx import XlsxExport

__all__ = ["FILE_FORMATS", "SampleOptionError", "write_sample_set"]

# mixed: USMF as xlsx (the realistic demo); csv: USMF as English CSV too (fast, for large benchmark runs).
FILE_FORMATS = ("mixed", "csv")

# Entities of the per-company folders, in the order the files are "exported" (their timestamps follow it).
COMPANY_ENTITIES = (
    "account",
    "contact",
    "product",
    "salesorder",
    "salesorderdetail",
    "invoice",
    "invoicedetail",
)
MULTI_COMPANY_ENTITIES = ("quote", "quotedetail")
MULTI_COMPANY_FILES = {"quote": "quotes.csv", "quotedetail": "quotedetails.csv"}  # entity set names

# The grid view a user exported from, as Dynamics 365 names the file and the sheet after it.
VIEW_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "account": "Active Accounts",
        "contact": "My Active Contacts",
        "product": "Active Products",
        "salesorder": "Active Orders",
        "salesorderdetail": "Order Products",
        "invoice": "Active Invoices",
        "invoicedetail": "Invoice Products",
    },
    "sv": {
        "account": "Aktiva konton",
        "contact": "Mina aktiva kontakter",
        "product": "Aktiva produkter",
        "salesorder": "Aktiva order",
        "salesorderdetail": "Orderprodukter",
        "invoice": "Aktiva fakturor",
        "invoicedetail": "Fakturaprodukter",
    },
}
SECOND_CONTACT_SHEET = "Inactive Contacts"

# Large runs write their files in parallel processes; small ones are faster without the pool's start-up.
PARALLEL_FROM_SCALE = 20_000
MAX_WORKERS = 4
# Relative cost of a family of files per company, so the biggest start first and the workers finish together.
FAMILY_WEIGHTS = {"order": 12, "quote": 6, "contact": 1, "account": 1, "product": 1}


class SampleOptionError(ValueError):
    """An argument of write_sample_set the sample cannot honour (the CLI shows it as a usage error)."""


def write_sample_set(
    out_dir: Path,
    *,
    seed: int = 7,
    scale: int = 40,
    language: str = "sv",
    file_format: str = "mixed",
    entities: Iterable[str] | None = None,
) -> list[Path]:
    """Write the export set under out_dir and return the files written, sorted.

    scale = rows per entity and company (order and quote lines: about 4 per header). `entities` limits the run
    to some logical table names (e.g. only accounts for a loader benchmark). Same arguments => byte-identical
    files."""
    if scale < 1:
        raise SampleOptionError("scale must be at least 1")
    if file_format not in FILE_FORMATS:
        raise SampleOptionError(f"unknown file format {file_format!r}: use one of {', '.join(FILE_FORMATS)}")
    if language.lower() not in LANGUAGE_CODES:
        known = ", ".join(sorted(LANGUAGE_CODES))
        raise SampleOptionError(f"unsupported sample language {language!r}: use one of {known}")
    language = language.lower()
    wanted = set(entities) if entities is not None else set(COMPANY_ENTITIES + MULTI_COMPANY_ENTITIES)
    unknown = wanted - set(COMPANY_ENTITIES + MULTI_COMPANY_ENTITIES)
    if unknown:
        raise SampleOptionError(f"unknown entities: {', '.join(sorted(unknown))}")
    tasks = _plan(out_dir, companies(seed, scale), wanted, language, file_format)
    _refuse_foreign_files([target.path for task in tasks for target in task.targets])
    workers = min(os.cpu_count() or 1, len(tasks), MAX_WORKERS)
    if scale < PARALLEL_FROM_SCALE or workers < 2:
        return sorted(path for task in tasks for path in _run(task))
    # Every file is independent and deterministic on its own: writing them in parallel changes no byte.
    tasks.sort(key=lambda task: -FAMILY_WEIGHTS[task.family] * len(task.companies))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sorted(path for paths in pool.map(_run, tasks) for path in paths)


@dataclass(frozen=True)
class _Target:
    """One file: where, which entity, and in which shape."""

    path: Path
    table: str
    kind: str  # xlsx | csv | webapi
    language: str  # en | sv | webapi: the text conventions of a CSV
    csv_shape: CsvShape | None
    exported_at: dt.datetime


@dataclass(frozen=True)
class _Task:
    """The files of one family (see dataset.FAMILIES) for some companies, written in one pass."""

    family: str
    companies: tuple[CompanyData, ...]
    targets: tuple[_Target, ...]


def _plan(
    out_dir: Path, data: tuple[CompanyData, CompanyData], wanted: set[str], language: str, file_format: str
) -> list[_Task]:
    """Which files to write, grouped into tasks: per company one task per family of files."""
    usmf, gbsi = data
    tasks: list[_Task] = []
    for family, tables in FAMILIES.items():
        if family == "quote":
            continue
        usmf_targets: list[_Target] = []
        gbsi_targets: list[_Target] = []
        for table in (t for t in tables if t in wanted):
            # Each user exports one view after the other: a later file, a later timestamp in its name.
            exported_at = EXPORT_TIME + dt.timedelta(seconds=41 * COMPANY_ENTITIES.index(table))
            if file_format == "mixed":
                usmf_targets.append(
                    _target(out_dir / usmf.profile.code, table, "xlsx", "en", None, exported_at)
                )
            else:
                usmf_targets.append(
                    _target(out_dir / usmf.profile.code, table, "csv", "en", EXCEL_UTF8_COMMA, exported_at)
                )
            # The GBSI user exported a few minutes later. Products went through an older Excel that saved in
            # the Windows code page.
            shape = EXCEL_CP1252_SEMICOLON if table == "product" else EXCEL_UTF8_SEMICOLON
            gbsi_at = exported_at + dt.timedelta(minutes=7)
            gbsi_targets.append(_target(out_dir / gbsi.profile.code, table, "csv", language, shape, gbsi_at))
        for company, targets in ((usmf, usmf_targets), (gbsi, gbsi_targets)):
            if targets:
                tasks.append(_Task(family, (company,), tuple(targets)))
    quote_targets = tuple(
        _Target(
            out_dir / "multi-company" / MULTI_COMPANY_FILES[table],
            table,
            "webapi",
            "webapi",
            WEBAPI,
            EXPORT_TIME,
        )
        for table in MULTI_COMPANY_ENTITIES
        if table in wanted
    )
    if quote_targets:
        tasks.append(_Task("quote", (usmf, gbsi), quote_targets))
    return tasks


def _target(
    folder: Path, table: str, kind: str, language: str, shape: CsvShape | None, exported_at: dt.datetime
) -> _Target:
    """A file named as Dynamics 365 names an export: the view's name and the moment of the export."""
    suffix = ".xlsx" if kind == "xlsx" else ".csv"
    name = f"{VIEW_NAMES[language][table]} {_file_stamp(language, exported_at)}{suffix}"
    return _Target(folder / name, table, kind, language, shape, exported_at)


def _run(task: _Task) -> list[Path]:
    with ExitStack() as stack:
        writers = {target.table: _open(target, stack) for target in task.targets}
        for company in task.companies:
            for table, record in company.stream(task.family, tuple(writers)):
                write = writers.get(table)
                if write is not None:
                    write(record)
    return [target.path for target in task.targets]


def _open(target: _Target, stack: ExitStack) -> Callable[[Record], None]:
    """A function writing one record to the target file, closed when the stack closes."""
    table = target.table
    if target.kind == "xlsx":
        columns = EXPORT_COLUMNS[table]
        headers = [header(table, column.logical_name, ENGLISH) for column in columns]
        workbook = stack.enter_context(
            XlsxExport(target.path, table, columns, headers, ENGLISH, target.exported_at)
        )
        view = VIEW_NAMES["en"][table]
        workbook.sheet(view)
        if table != "contact":
            return workbook.write
        # People merge exports: the inactive contacts were exported on their own and pasted in as a sheet.
        state = {"second": False}

        def write_contact(record: Record) -> None:
            if record["statecode"] == 1 and not state["second"]:
                workbook.sheet(SECOND_CONTACT_SHEET)
                state["second"] = True
            workbook.write(record)

        return write_contact
    assert target.csv_shape is not None
    locale = TEXT_LOCALES[target.language]
    if target.kind == "webapi":
        columns = WEBAPI_COLUMNS[table]
        headers = [column.logical_name for column in columns]
    else:
        columns = EXPORT_COLUMNS[table]
        headers = [header(table, column.logical_name, locale.language_code) for column in columns]
    render = text_renderer(table, columns, locale)
    return stack.enter_context(CsvExport(target.path, headers, render, target.csv_shape)).write


def _refuse_foreign_files(planned: list[Path]) -> None:
    """`p2c load FOLDER` loads every file in it: a leftover of an earlier run (another language, another
    format) would be loaded next to this run's files. Refuse instead of deleting anybody's files."""
    folders = {path.parent for path in planned}
    known = set(planned)
    foreign = sorted(
        path for folder in folders if folder.is_dir() for path in folder.iterdir() if path not in known
    )
    if foreign:
        names = ", ".join(str(path) for path in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise SampleOptionError(f"the output folders hold files this run would not write: {names}")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


def _file_stamp(language: str, moment: dt.datetime) -> str:
    if language == "sv":
        return moment.strftime("%Y-%m-%d %H-%M-%S")
    hour = moment.hour % 12 or 12
    return f"{moment:%m-%d-%Y} {hour}-{moment:%M-%S} {'AM' if moment.hour < 12 else 'PM'}"
