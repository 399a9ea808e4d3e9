"""Bulk updates: UpdateMultiple with bisection, $batch with per-part results, single PATCHes."""

from __future__ import annotations

import json
import math

import pytest
from test_dataverse_support import FAST, FakeDataverse, Reply, error_reply, make_client
from test_dataverse_support import fake as fake

from p2c.dataverse import (
    BulkMode,
    ClientOptions,
    DataverseTerminalError,
    EntityInfo,
    RowStatus,
    UpdateRow,
    WriteMethod,
)
from p2c.dataverse.batch import parse_batch_response

ACCOUNT = EntityInfo("account", "accounts", "accountid")


def accounts(fake: FakeDataverse, n: int, *, update_multiple: bool = True) -> list[str]:
    fake.add_table("account", "accounts", "accountid", update_multiple=update_multiple)
    return [fake.add_record("accounts", {"name": f"acc {i}"}) for i in range(n)]


def test_update_multiple_bisection_isolates_the_one_bad_row(fake: FakeDataverse) -> None:
    ids = accounts(fake, 16)
    fake.bad_values = {"name": "BAD"}
    rows = [UpdateRow(i, {"name": "BAD" if n == 11 else f"new {n}"}) for n, i in enumerate(ids)]
    results = make_client(fake, ClientOptions(batch_size=16)).update_many("account", rows)
    assert [r.record_id for r in results] == ids  # one result per row, in order
    failed = [r for r in results if r.status is RowStatus.FAILED]
    assert [r.record_id for r in failed] == [ids[11]]
    assert (failed[0].http_status, failed[0].error_code, failed[0].retryable) == (400, "0x80044331", False)
    assert all(r.method is WriteMethod.UPDATE_MULTIPLE for r in results)
    for n, record_id in enumerate(ids):
        expected = "acc 11" if n == 11 else f"new {n}"
        assert fake.records["accounts"][record_id]["name"] == expected
    posts = fake.seen("POST", "UpdateMultiple")
    assert len(posts) <= 1 + 2 * math.ceil(math.log2(16))
    assert failed[0].attempts == 1 + math.ceil(math.log2(16))  # the row travelled in every level's request


def test_update_multiple_body_is_targets_with_type_and_primary_key(fake: FakeDataverse) -> None:
    ids = accounts(fake, 2)
    make_client(fake).update_many("account", [UpdateRow(i, {"name": "n"}) for i in ids])
    (post,) = fake.seen("POST", "UpdateMultiple")
    assert post.path == "accounts/Microsoft.Dynamics.CRM.UpdateMultiple"
    targets = json.loads(post.body)["Targets"]
    assert targets == [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "n", "accountid": i} for i in ids
    ]


def test_transient_failure_is_retried_not_split(fake: FakeDataverse) -> None:
    ids = accounts(fake, 8)
    # a 500 with a Dataverse error (not an outage: those are waited out within the outage budget)
    fake.script("POST", "UpdateMultiple", *[error_reply(500, "0x80040216", "Unexpected")] * 20)
    results = make_client(fake).update_many("account", [UpdateRow(i, {"name": "n"}) for i in ids])
    assert all(r.status is RowStatus.FAILED and r.retryable and r.http_status == 500 for r in results)
    assert len(fake.seen("POST", "UpdateMultiple")) == FAST.max_attempts  # one request, retried, never split
    assert all(r.attempts == FAST.max_attempts for r in results)


def test_a_missing_record_fails_alone_in_update_multiple(fake: FakeDataverse) -> None:
    ids = accounts(fake, 3)
    gone = "0f8fad5b-d9cb-469f-a165-70867728950e"
    results = make_client(fake).update_many("account", [UpdateRow(i, {"name": "n"}) for i in [*ids, gone]])
    assert [r.status for r in results] == [RowStatus.UPDATED] * 3 + [RowStatus.FAILED]
    assert results[-1].http_status == 404 and gone not in fake.records["accounts"]


def test_auto_mode_probes_sdkmessagefilters_and_falls_back_to_batch(fake: FakeDataverse) -> None:
    ids = accounts(fake, 3, update_multiple=False)
    client = make_client(fake)
    results = client.update_many("account", [UpdateRow(i, {"name": "b"}) for i in ids])
    assert all(r.ok and r.method is WriteMethod.BATCH for r in results)
    (probe,) = fake.seen("GET", "sdkmessagefilters")
    assert probe.query["$filter"] == "sdkmessageid/name eq @message and primaryobjecttypecode eq @table"
    assert (probe.query["@message"], probe.query["@table"]) == ("'UpdateMultiple'", "'account'")
    assert not fake.seen("POST", "UpdateMultiple")
    client.update_many("account", [UpdateRow(ids[0], {"name": "again"})])
    assert len(fake.seen("GET", "sdkmessagefilters")) == 1  # the answer is cached


def test_forced_update_multiple_on_an_unsupported_table_is_refused(fake: FakeDataverse) -> None:
    ids = accounts(fake, 1, update_multiple=False)
    with pytest.raises(Exception, match="does not support UpdateMultiple"):
        make_client(fake).update_many("account", [UpdateRow(ids[0], {})], mode=BulkMode.UPDATE_MULTIPLE)


def test_batch_reports_each_part_and_retries_only_the_throttled_one(fake: FakeDataverse) -> None:
    ids = accounts(fake, 5, update_multiple=False)
    gone = "0f8fad5b-d9cb-469f-a165-70867728950e"
    fake.bad_values = {"name": "BAD"}
    fake.script("BATCH-PATCH", ids[3], Reply(429, {"Retry-After": "1"}, {"error": {"code": "0x80072322"}}))
    rows = [
        UpdateRow(ids[0], {"name": "ok 0"}),
        UpdateRow(ids[1], {"name": "BAD"}),
        UpdateRow(gone, {"name": "nobody"}),
        UpdateRow(ids[3], {"name": "ok after 429"}),
        UpdateRow(ids[4], {"name": "ok 4"}),
    ]
    results = make_client(fake).update_many(ACCOUNT, rows, mode=BulkMode.BATCH)
    assert [r.status for r in results] == [
        RowStatus.UPDATED,
        RowStatus.FAILED,
        RowStatus.FAILED,
        RowStatus.UPDATED,
        RowStatus.UPDATED,
    ]
    assert (results[1].http_status, results[1].error_code) == (400, "0x80044331")
    assert (results[2].http_status, results[2].error_code) == (404, "0x80040217")
    assert results[3].attempts == 2 and results[0].attempts == 1
    assert fake.records["accounts"][ids[3]]["name"] == "ok after 429"
    first, second = fake.seen("POST", "$batch")
    assert second.at - first.at >= 0.95  # the part's Retry-After held the user
    assert first.headers["Prefer"] == "odata.continue-on-error"
    assert first.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    text = first.body.decode()
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert text.count("PATCH /api/data/v9.2/accounts(") == 5 and text.count("If-Match: *") == 5
    assert second.body.decode().count("PATCH ") == 1


def test_rows_with_an_etag_go_through_batch_even_in_update_multiple_mode(fake: FakeDataverse) -> None:
    ids = accounts(fake, 3)
    rows = [UpdateRow(ids[0], {"name": "a"}), UpdateRow(ids[1], {"name": "b"}, if_match='W/"1"')]
    rows.append(UpdateRow(ids[2], {"name": "c"}, if_match='W/"99"'))
    results = make_client(fake).update_many("account", rows)
    assert [r.method for r in results] == [WriteMethod.UPDATE_MULTIPLE, WriteMethod.BATCH, WriteMethod.BATCH]
    assert [r.status for r in results] == [RowStatus.UPDATED, RowStatus.UPDATED, RowStatus.FAILED]
    assert results[2].http_status == 412


def test_rows_that_must_not_be_sent_fail_without_a_request(fake: FakeDataverse) -> None:
    ids = accounts(fake, 2)
    rows = [
        UpdateRow("not-a-guid", {"name": "x"}),
        UpdateRow(ids[0], {"name": "x"}, if_match=""),
        UpdateRow(ids[0], {"@odata.id": "accounts(accountnumber='A1')"}),
        UpdateRow(ids[1], {"name": "first"}),
        UpdateRow(ids[1], {"name": "second"}),
        UpdateRow(ids[0], {"accountid": ids[1]}),
    ]
    results = make_client(fake).update_many("account", rows)
    assert [r.method for r in results] == [WriteMethod.NOT_SENT] * 3 + [WriteMethod.UPDATE_MULTIPLE] + [
        WriteMethod.NOT_SENT
    ] * 2
    assert results[3].ok and all(r.attempts == 0 for i, r in enumerate(results) if i != 3)
    assert "twice" in results[4].message and "never create" in results[1].message


def test_single_mode_and_work_spread_over_users(fake: FakeDataverse) -> None:
    ids = accounts(fake, 30, update_multiple=False)
    fake.dop_hint = 2
    client = make_client(fake, ClientOptions(batch_size=3), users=2)
    results = client.update_many("account", [UpdateRow(i, {"name": "z"}) for i in ids])
    assert all(r.ok for r in results)
    assert {r.user for r in results} == {"user1", "user2"}
    batches = fake.seen("POST", "$batch")
    assert len(batches) == 10
    assert {b.headers["Authorization"] for b in batches} == {
        f"Bearer {t}" for t in ("static-test-token-0123456789", "static-test-token-0123456789-user2")
    }
    single = client.update_many("account", [UpdateRow(ids[0], {"name": "s"})], mode=BulkMode.SINGLE)
    assert single[0].method is WriteMethod.SINGLE and single[0].ok


def test_no_write_can_create_a_record(fake: FakeDataverse) -> None:
    ids = accounts(fake, 4)
    client = make_client(fake)
    client.update_many("account", [UpdateRow(i, {"name": "u"}) for i in ids])
    client.update_many("account", [UpdateRow(i, {"name": "v"}) for i in ids], mode=BulkMode.BATCH)
    client.update_many("account", [UpdateRow(i, {"name": "w"}) for i in ids], mode=BulkMode.SINGLE)
    client.update("accounts", ids[0], {"name": "one"})
    for seen in fake.requests:
        if seen.method == "POST":
            assert seen.path.endswith(("/Microsoft.Dynamics.CRM.UpdateMultiple", "$batch"))
        if seen.method == "PATCH":
            assert seen.headers["If-Match"] == "*"
    assert not hasattr(client, "create") and not hasattr(client, "upsert")
    # the transport's update shapes, misused, still cannot create: a POST to the set, a PATCH without If-Match
    with pytest.raises(DataverseTerminalError, match="not an update"):
        client.transport.update_multiple("accounts", [{"name": "new"}], headers={}, what="create")
    with pytest.raises(DataverseTerminalError, match="not an update"):
        client.transport.patch(f"accounts({ids[0]})", {"name": "upsert"}, headers={}, what="upsert")
    assert len(fake.records["accounts"]) == 4


def test_whole_batch_refused_is_split_until_the_cause_is_found(fake: FakeDataverse) -> None:
    ids = accounts(fake, 4, update_multiple=False)
    # the service refuses the whole batch once (a 400 naming no part); halves then go through
    fake.script("POST", "$batch", error_reply(400, "0x80048d19", "Error identified in Payload"))
    results = make_client(fake).update_many(
        ACCOUNT, [UpdateRow(i, {"name": "q"}) for i in ids], mode=BulkMode.BATCH
    )
    assert all(r.ok for r in results)
    assert len(fake.seen("POST", "$batch")) == 3


def test_batch_response_parser_handles_change_sets_and_lf() -> None:
    body = (
        "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n\r\n"
        "--changesetresponse_2--\r\n"
        "--batchresponse_1\nContent-Type: application/http\n\nHTTP/1.1 400 Bad Request\n"
        'Content-Type: application/json\n\n{"error":{"code":"0x80044331","message":"bad"}}\n'
        "--batchresponse_1--\r\n"
    )
    parts = parse_batch_response(body, "multipart/mixed; boundary=batchresponse_1")
    assert [(p.status, p.reason) for p in parts] == [(204, "No Content"), (400, "Bad Request")]
    assert json.loads(parts[1].body)["error"]["code"] == "0x80044331"
    with pytest.raises(ValueError):
        parse_batch_response(body, "application/json")


def test_without_a_batch_endpoint_rows_go_one_patch_at_a_time(fake: FakeDataverse) -> None:
    ids = accounts(fake, 3, update_multiple=False)
    fake.script(
        "POST", "$batch", error_reply(404, "0x8006088a", "Resource not found for the segment '$batch'.")
    )
    results = make_client(fake).update_many("account", [UpdateRow(i, {"name": "s"}) for i in ids])
    assert all(r.ok and r.method is WriteMethod.SINGLE for r in results)
    assert len(fake.seen("PATCH")) == 3 and results[0].attempts == 2  # the refused $batch, then its PATCH
