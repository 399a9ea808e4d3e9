"""Pure functions: OData literals and keys, batch bodies, Retry-After, backoff, options."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from p2c.dataverse import ClientOptions, bind
from p2c.dataverse.batch import BatchOperation, boundary_of, build_batch_body
from p2c.dataverse.errors import DataverseTerminalError, DataverseTransientError, error_for_status
from p2c.dataverse.odata import (
    equals_filter,
    guid,
    ids_filter,
    key_segment,
    literal,
    query_string,
    record_path,
)
from p2c.dataverse.throttle import Backoff, parse_dop_hint, parse_retry_after
from p2c.errors import TerminalError, TransientError, UsageError

GID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_literals() -> None:
    assert literal("O'Brien & Sons") == "'O''Brien & Sons'"
    assert literal(uuid.UUID(GID)) == GID
    assert (literal(3), literal(True), literal(None), literal(1.5)) == ("3", "true", "null", "1.5")
    with pytest.raises(UsageError):
        literal(object())


def test_filters_and_paths() -> None:
    assert equals_filter({"a": "x", "b": 2}) == "a eq 'x' and b eq 2"
    assert ids_filter("accountid", [GID, GID.upper()]) == f"(accountid eq {GID} or accountid eq {GID})"
    assert record_path("accounts", "{" + GID.upper() + "}") == f"accounts({GID})"
    with pytest.raises(UsageError):
        guid("ACC-001")


def test_key_segments_escape_or_refuse() -> None:
    assert key_segment({"accountnumber": "O'Brien Sons"}) == "accountnumber='O''Brien%20Sons'"
    assert key_segment({"a": "x", "n": 1}) == "a='x',n=1"
    for bad in "/<>*%&:\\?+":
        assert key_segment({"accountnumber": f"A{bad}1"}) is None  # these break key URLs: use $filter


def test_query_string_percent_encodes_values() -> None:
    qs = query_string({"$filter": "name eq 'a&b+c/d'", "$top": 2, "$select": None})
    assert qs == "$filter=name%20eq%20'a%26b%2Bc%2Fd'&$top=2"


def test_bind() -> None:
    assert bind("msdyn_Company", "cdm_companies", GID) == {
        "msdyn_Company@odata.bind": f"/cdm_companies({GID})"
    }
    with pytest.raises(UsageError):
        bind("x@odata.bind", "accounts", GID)


def test_batch_body_is_crlf_multipart() -> None:
    body = build_batch_body(
        [BatchOperation("PATCH", f"/api/data/v9.2/accounts({GID})", {"If-Match": "*"}, {"name": "é"})],
        "batch_x",
    ).decode()
    assert body.startswith(
        "--batch_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    )
    assert f"PATCH /api/data/v9.2/accounts({GID}) HTTP/1.1\r\n" in body
    assert 'If-Match: *\r\n\r\n{"name":"é"}\r\n--batch_x--\r\n' in body
    assert "\n" not in body.replace("\r\n", "")
    assert boundary_of('multipart/mixed; boundary="batch_x"') == "batch_x"
    assert boundary_of("multipart/mixed;boundary=batchresponse_1") == "batchresponse_1"


def test_retry_after_and_dop_hint_parsing() -> None:
    assert (
        parse_retry_after("7") == 7.0
        and parse_retry_after(None) is None
        and parse_retry_after("soon") is None
    )
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 28 <= (parse_retry_after(format_datetime(later, usegmt=True)) or 0) <= 31
    assert parse_dop_hint("12") == 12 and parse_dop_hint("0") is None and parse_dop_hint(None) is None


def test_full_jitter_backoff_stays_within_the_exponential_ceiling() -> None:
    backoff, rng = Backoff(base_s=0.5, cap_s=4.0), random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays) and max(delays) > ceiling * 0.8


def test_errors_are_sorted_into_transient_and_terminal() -> None:
    throttled = error_for_status(
        429, '{"error":{"code":"0x80072322","message":"Number of requests"}}', request="r"
    )
    assert isinstance(throttled, DataverseTransientError) and isinstance(throttled, TransientError)
    assert throttled.retryable and throttled.code == "0x80072322"
    refused = error_for_status(404, '{"error":{"code":"0x80040217","message":"Does Not Exist"}}', request="r")
    assert isinstance(refused, DataverseTerminalError) and isinstance(refused, TerminalError)
    assert not refused.retryable and "HTTP 404 0x80040217: Does Not Exist" in str(refused)
    assert error_for_status(502, "<html>gateway</html>", request="r").code == ""  # no JSON body: no code


def test_options_are_validated() -> None:
    assert ClientOptions().write_headers() == {}
    with pytest.raises(UsageError):
        ClientOptions(max_parallel_per_user=52)
    with pytest.raises(UsageError):
        ClientOptions(batch_size=1001)
    with pytest.raises(UsageError):
        ClientOptions(bypass_business_logic="everything")


def test_json_carries_money_dates_and_guids() -> None:
    from decimal import Decimal

    from p2c.dataverse.odata import to_json

    payload = {
        "m": Decimal("12.50"),
        "n": Decimal("3"),
        "d": datetime(2020, 3, 27, tzinfo=UTC),
        "g": uuid.UUID(GID),
    }
    assert to_json(payload) == (f'{{"m":12.5,"n":3,"d":"2020-03-27T00:00:00+00:00","g":"{GID}"}}').encode()
    with pytest.raises(TypeError):
        to_json({"x": object()})
