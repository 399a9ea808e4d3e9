"""CSV exports end to end: every encoding, delimiter and hostile shape lands exactly, with provenance."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]

SV_HEADER = "(Ändra inte) Konto;Kontonummer;Kontonamn;Adress 1: Ort;Kreditgräns;Status"
SV_ROWS = ["a-1;K001;Malmö Bygg AB;Malmö;1 000,50;Aktiv", "a-2;K002;Åre Fjäll AB;Åre;;Inaktiv"]
EXPECTED_SV = [
    ("a-1", "K001", "Malmö Bygg AB", "Malmö", "1 000,50", "Aktiv", 1),
    ("a-2", "K002", "Åre Fjäll AB", "Åre", None, "Inaktiv", 2),
]
ACCOUNT_COLUMNS = "accountid, accountnumber, name, address1_city, creditlimit, statecode, _source_row"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def accounts(query: Query) -> list[tuple[Any, ...]]:
    return query(f"select {ACCOUNT_COLUMNS} from raw.account order by _source_file, _source_row")


@pytest.mark.parametrize(
    ("name", "encode", "encoding_logged", "delimiter"),
    [
        ("bom-semicolon.csv", lambda t: "\ufeff".encode() + t.encode(), "utf-8-sig", ";"),
        ("plain-utf8.csv", lambda t: t.encode(), "utf-8", ";"),
        ("utf16.csv", lambda t: t.encode("utf-16"), "utf-16", ";"),
        ("cp1252.csv", lambda t: t.encode("cp1252"), "cp1252", ";"),
        ("tab-lf.csv", lambda t: t.replace(";", "\t").replace("\r\n", "\n").encode(), "utf-8", "\t"),
        ("comma.csv", lambda t: t.replace("1 000,50", '"1 000,50"').replace(";", ",").encode(), "utf-8", ","),
    ],
)
def test_encodings_and_delimiters_land_the_same_rows(
    tmp_path: Path,
    load_run: Run,
    load_query: Query,
    name: str,
    encode: Callable[[str], bytes],
    encoding_logged: str,
    delimiter: str,
) -> None:
    text = "\r\n".join([SV_HEADER, *SV_ROWS]) + "\r\n"
    path = write(tmp_path / name, encode(text))
    [result] = load_run(path, company="GBSI")
    assert (result.status, result.entity, result.detected_by) == ("landed", "account", "headers")
    assert (result.encoding, result.delimiter, result.rows_read, result.rows_landed) == (
        encoding_logged,
        delimiter,
        2,
        2,
    )
    assert accounts(load_query) == EXPECTED_SV
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_query(
        "select distinct _source_file, _source_sheet, _source_sha256, _company, _load_id = ? "
        "from raw.account",
        [result_load_id(load_query)],
    ) == [(str(path.resolve()), None, sha, "GBSI", True)]
    assert load_query("select count(*) from raw._rejects") == [(0,)]


def result_load_id(query: Query) -> str:
    return str(query("select max(load_id) from raw._loads")[0][0])


def test_embedded_newlines_quotes_formulas_and_a_32k_cell(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    long_cell = "x" * 32_767
    text = (
        "Account Number,Account Name,Address 1: Street 1,Email\r\n"
        'A1,"Line one\r\nline two","He said ""hi""",=HYPERLINK("http://evil")\r\n'
        f'A2,+46 8 555,@SUM(A1),"{long_cell}"\n'
        'A3,"-2+3","a,b",""\r\n'
    )
    path = write(tmp_path / "accounts.csv", text.encode())
    [result] = load_run(path)
    assert (result.status, result.rows_read, result.rows_landed, result.rows_rejected) == ("landed", 3, 3, 0)
    assert load_query(
        "select accountnumber, name, address1_line1, emailaddress1, _source_row from raw.account order by 5"
    ) == [
        ("A1", "Line one\r\nline two", 'He said "hi"', '=HYPERLINK("http://evil")', 1),
        ("A2", "+46 8 555", "@SUM(A1)", long_cell, 2),
        ("A3", "-2+3", "a,b", None, 3),
    ]


RAGGED = (
    "Account Number;Account Name;Status\r\n"
    "A1;One;Aktiv\r\n"
    "A2;Two\r\n"  # too few fields
    '"A3";"Three\r\nwith newline";Aktiv\r\n'
    "A4;Four;Aktiv;extra\r\n"  # too many fields
    "\r\n"  # blank line: not a record
    "A5;Fem;Inaktiv\r\n"
)


def test_ragged_rows_are_rejected_with_exact_rows_lines_and_columns(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = write(tmp_path / "ragged.csv", RAGGED.encode())
    [result] = load_run(path)
    assert (result.status, result.rows_read, result.rows_landed, result.rows_rejected) == ("landed", 5, 3, 2)
    assert load_query("select accountnumber, name, statecode, _source_row from raw.account order by 4") == [
        ("A1", "One", "Aktiv", 1),
        ("A3", "Three\r\nwith newline", "Aktiv", 3),
        ("A5", "Fem", "Inaktiv", 5),
    ]
    assert load_query(
        "select file, sheet, data_row, line, column_position, column_name, reason, record "
        "from raw._rejects order by data_row"
    ) == [
        (str(path.resolve()), None, 2, 3, 3, "statecode", "too few fields: expected 3, found 2", "A2;Two"),
        (
            str(path.resolve()),
            None,
            4,
            6,
            4,
            None,
            "too many fields: expected 3, found 4",
            "A4;Four;Aktiv;extra",
        ),
    ]
    assert load_query("select rows_read, rows_landed, rows_rejected, status from raw._loads") == [
        (5, 3, 2, "landed")
    ]


def test_undecodable_bytes_in_a_utf8_file_reject_only_that_row(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    data = (
        "Account Number,Account Name\nA1,Malmö\n".encode() + b"A2,Bad \xff byte\n" + "A3,Göteborg\n".encode()
    )
    path = write(tmp_path / "damaged.csv", data)
    [result] = load_run(path)
    assert (result.encoding, result.rows_read, result.rows_landed, result.rows_rejected) == ("utf-8", 3, 2, 1)
    assert load_query("select accountnumber, name, _source_row from raw.account order by 3") == [
        ("A1", "Malmö", 1),
        ("A3", "Göteborg", 3),
    ]
    assert load_query(
        "select data_row, line, column_position, column_name, reason, record from raw._rejects"
    ) == [(2, 3, 2, "name", "bytes not valid in utf-8: b'\\xff'", "A2,Bad \\xff byte")]


def test_fast_and_exact_parsers_land_identical_rows(tmp_path: Path, load_db: Path, load_query: Query) -> None:
    from loaders.landing import LoadOptions
    from loaders.load import load_paths

    text = (
        'Account Number,Account Name,Email\r\nA1,"multi\nline","q""uote"\r\n'
        '\r\n,,\r\n" lead space ",x,\r\nA9,ö,é'
    )
    path = write(tmp_path / "same.csv", text.encode())
    select = "select accountnumber, name, emailaddress1, _source_row from raw.account order by 4"
    load_paths([path], load_db, LoadOptions())
    fast = load_query(select)
    load_db.unlink()
    load_paths([path], load_db, LoadOptions(force_exact_csv=True))
    assert load_query("select file_table like 'account_%', row_numbers from raw._files") == [(True, "column")]
    assert (
        load_query(select)
        == fast
        == [
            ("A1", "multi\nline", 'q"uote', 1),
            (None, None, None, 2),
            (" lead space ", "x", None, 3),
            ("A9", "ö", "é", 4),
        ]
    )


def test_duplicate_unknown_and_sql_headers_are_kept_and_reported(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    evil = 'x"); drop table raw.account; --'
    quoted = evil.replace('"', '""')  # the CSV quoting and the SQL identifier quoting happen to agree
    text = f'Account Number,Status,Status,"{quoted}",Lieblingsfarbe\r\nA1,Aktiv,Active,1,blau\r\n'
    path = write(tmp_path / "evil.csv", text.encode())
    [result] = load_run(path)
    assert result.unknown_headers == [evil, "Lieblingsfarbe"]
    assert result.duplicate_headers == ["'Status' (column 3) -> statecode__2"]
    landed_as = "x_); drop table raw.account; --"  # the header's quote becomes `_` (dbt-quotable)
    assert load_query(
        f'select accountnumber, statecode, statecode__2, "{landed_as}", Lieblingsfarbe from raw.account'
    ) == [("A1", "Aktiv", "Active", "1", "blau")]
    assert load_query("select unknown_headers, duplicate_headers from raw._loads") == [
        ([evil, "Lieblingsfarbe"], ["'Status' (column 3) -> statecode__2"])
    ]
    assert load_query("select headers from raw._loads")[0][0] == [
        {"position": 1, "header": "Account Number", "logical_name": "accountnumber", "how": "vocabulary"},
        {"position": 2, "header": "Status", "logical_name": "statecode", "how": "vocabulary"},
        {"position": 3, "header": "Status", "logical_name": "statecode__2", "how": "vocabulary"},
        {"position": 4, "header": evil, "logical_name": landed_as, "how": "unknown"},
        {"position": 5, "header": "Lieblingsfarbe", "logical_name": "Lieblingsfarbe", "how": "unknown"},
    ]
    # Every table of the landing zone is still there: nine raw.<table>, _loads, _rejects, _files and
    # _choice_labels.
    assert load_query("select count(*) from information_schema.tables where table_schema = 'raw'")[0][0] == 13


def test_header_only_file_lands_no_rows_and_empty_file_fails(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    header_only = write(tmp_path / "header-only.csv", b"Account Number,Account Name\r\n")
    empty = write(tmp_path / "empty.csv", b"")
    results = load_run(header_only, empty)
    assert [(r.status, r.rows_read, r.error) for r in results] == [
        ("landed", 0, None),
        ("failed", 0, "empty file: there is no header row"),
    ]
    assert load_query("select count(*) from raw.account") == [(0,)]
    assert load_query("select status from raw._loads order by file") == [("failed",), ("landed",)]


def test_logical_name_headers_and_company_column(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    text = "accountnumber,name,msdyn_company\nA1,Contoso,USMF\nA1,Contoso Ltd,GBSI\n"
    path = write(tmp_path / "multi-company.csv", text.encode())
    [result] = load_run(path)
    assert (result.entity, result.unknown_headers) == ("account", [])
    assert load_query(
        "select accountnumber, name, msdyn_company, _company from raw.account order by _source_row"
    ) == [
        ("A1", "Contoso", "USMF", None),
        ("A1", "Contoso Ltd", "GBSI", None),
    ]


def test_raw_relations_have_the_full_contract_before_and_after_loading(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    from loaders.vocabulary import known_columns

    path = write(tmp_path / "a.csv", b"Account Number,Extra\nA1,e\n")
    load_run(path)
    provenance = [
        "_source_file",
        "_source_sheet",
        "_source_row",
        "_source_sha256",
        "_company",
        "_load_id",
        "_loaded_at",
    ]
    columns = load_query(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = ? order by ordinal_position",
        ["account"],
    )
    assert [c for c, _ in columns] == [*known_columns("account"), *provenance, "Extra"]
    types: dict[str, str] = dict(columns)
    assert types["_source_row"] == "BIGINT"
    assert types["_loaded_at"] == "TIMESTAMP"
    contact = load_query(
        "select column_name from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'contact' order by ordinal_position"
    )
    assert [c for (c,) in contact] == [*known_columns("contact"), *provenance]


def test_cp1252_whose_first_mebibyte_is_ascii_is_still_read_as_cp1252(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    filler = "".join(f"A{i:06d};Plain Ltd\r\n" for i in range(70_000))  # > 1 MiB of ASCII
    data = ("Account Number;Account Name\r\n" + filler + "Z1;Malmö € AB\r\n").encode("cp1252")
    path = write(tmp_path / "late-cp1252.csv", data)
    [result] = load_run(path)
    assert (result.encoding, result.rows_read, result.rows_landed, result.rows_rejected) == (
        "cp1252",
        70_001,
        70_001,
        0,
    )
    assert load_query("select name, _source_row from raw.account where accountnumber = 'Z1'") == [
        ("Malmö € AB", 70_001)
    ]
    # Re-read by DuckDB with the right encoding, not by the slow exact parser.
    assert load_query("select row_numbers from raw._files") == [("rowid",)]


def test_a_header_with_a_line_break_keeps_every_row(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    # DuckDB's own reader drops all rows of such a file; the loader must not.
    text = 'Account Number,"Account\nName"," ",Notes\r\nA1,One,x,n1\r\nA2,Two,y,n2\r\n'
    path = write(tmp_path / "multiline-header.csv", text.encode())
    [result] = load_run(path)
    # The line break is whitespace to the vocabulary: the header is the account name.
    assert (result.rows_read, result.rows_landed, result.unknown_headers) == (2, 2, [" ", "Notes"])
    assert load_query("select accountnumber, name, column_3, Notes, _source_row from raw.account") == [
        ("A1", "One", "x", "n1", 1),
        ("A2", "Two", "y", "n2", 2),
    ]
