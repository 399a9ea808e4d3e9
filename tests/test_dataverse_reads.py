"""Reads, id resolution, metadata and the reference resolver."""

from __future__ import annotations

import uuid

import pytest
from test_dataverse_support import FakeDataverse, make_client
from test_dataverse_support import fake as fake

from p2c.dataverse import (
    AmbiguousReference,
    ClientOptions,
    EntityKey,
    ReferenceNotFound,
    ResolutionStatus,
    bind,
)
from p2c.errors import UsageError


@pytest.fixture
def populated(fake: FakeDataverse) -> FakeDataverse:
    fake.add_table("account", "accounts", "accountid")
    fake.add_table("cdm_company", "cdm_companies", "cdm_companyid")
    fake.add_record("cdm_companies", {"cdm_companycode": "USMF"})
    fake.add_record("cdm_companies", {"cdm_companycode": "DUP"})
    fake.add_record("cdm_companies", {"cdm_companycode": "DUP"})
    fake.add_record("accounts", {"name": "O'Brien & Sons", "accountnumber": "A/1+2"})
    fake.add_record("accounts", {"name": "Plain", "accountnumber": "ACC-1"})
    return fake


def test_get_by_id_with_select_and_etag(populated: FakeDataverse) -> None:
    record_id = next(iter(populated.records["accounts"]))
    record = make_client(populated).get("accounts", record_id, ["name"])
    assert record is not None and record.values["name"] == "O'Brien & Sons" and record.etag == 'W/"1"'
    (seen,) = populated.seen("GET", "accounts(")
    assert seen.query == {"$select": "name"} and seen.headers["If-None-Match"] == "null"
    assert make_client(populated).get("accounts", uuid.uuid4()) is None


def test_query_follows_next_links_with_the_page_size_preference(populated: FakeDataverse) -> None:
    for n in range(7):
        populated.add_record("accounts", {"name": f"paged {n}", "accountnumber": "P"})
    client = make_client(populated, ClientOptions(page_size=3))
    rows = list(client.query("accounts", filter="accountnumber eq 'P'", select=["name"]))
    assert sorted(r["name"] for r in rows) == [f"paged {n}" for n in range(7)]
    pages = populated.seen("GET", "accounts")
    assert len(pages) == 3
    assert all(p.headers["Prefer"] == "odata.maxpagesize=3" for p in pages)


def test_get_many_asks_in_chunks_of_ids(populated: FakeDataverse) -> None:
    ids = [populated.add_record("accounts", {"name": f"m{n}"}) for n in range(5)]
    client = make_client(populated, ClientOptions(ids_per_query=2))
    found = client.get_many("accounts", "accountid", [*ids, str(uuid.uuid4())], ["name"])
    assert sorted(found) == sorted(ids)
    queries = populated.seen("GET", "accounts")
    assert len(queries) == 3
    assert (
        queries[0].query["$filter"].startswith("(accountid eq ")
        and " or accountid eq " in queries[0].query["$filter"]
    )
    assert "'" not in queries[0].query["$filter"]  # GUIDs are unquoted


def test_resolve_id_found_none_several(populated: FakeDataverse) -> None:
    client = make_client(populated)
    found = client.resolve_id("cdm_companies", {"cdm_companycode": "USMF"}, "cdm_companyid")
    assert found.status is ResolutionStatus.FOUND and found.record_id in populated.records["cdm_companies"]
    assert client.resolve_id("cdm_companies", {"cdm_companycode": "NONE"}, "cdm_companyid").status is (
        ResolutionStatus.NONE
    )
    several = client.resolve_id("cdm_companies", {"cdm_companycode": "DUP"}, "cdm_companyid")
    assert several.status is ResolutionStatus.SEVERAL and len(several.candidates) == 2
    assert populated.seen("GET", "cdm_companies")[0].query["$top"] == "2"


def test_quotes_are_doubled_and_special_characters_percent_encoded(populated: FakeDataverse) -> None:
    client = make_client(populated)
    resolution = client.resolve_id(
        "accounts", {"name": "O'Brien & Sons", "accountnumber": "A/1+2"}, "accountid"
    )
    assert resolution.found
    (seen,) = populated.seen("GET", "accounts")
    assert seen.query["$filter"] == "name eq 'O''Brien & Sons' and accountnumber eq 'A/1+2'"
    # on the wire & and + are percent-encoded (else the query would split, or + would read as a space)
    assert "%26" in seen.raw_query and "%2B" in seen.raw_query and "%2F" in seen.raw_query
    assert "'O''Brien%20%26%20Sons'" in seen.raw_query


def test_get_by_key_uses_a_key_url_only_when_the_value_allows(populated: FakeDataverse) -> None:
    client = make_client(populated)
    record = client.get_by_key("accounts", {"accountnumber": "ACC-1"}, "accountid", ["name"])
    assert record is not None and record.values["name"] == "Plain"
    assert populated.requests[-1].path == "accounts(accountnumber='ACC-1')"
    assert client.get_by_key("accounts", {"accountnumber": "NOPE"}, "accountid") is None
    record = client.get_by_key("accounts", {"accountnumber": "A/1+2"}, "accountid", ["name"])
    assert record is not None and record.values["name"] == "O'Brien & Sons"
    assert populated.requests[-1].path == "accounts" and "$filter" in populated.requests[-1].query


def test_whoami(populated: FakeDataverse) -> None:
    me = make_client(populated).whoami()
    assert (me.user_id, me.business_unit_id, me.organization_id, me.user) == ("u-1", "bu-1", "org-1", "user1")


def test_metadata_is_read_once_and_answers_binds(populated: FakeDataverse) -> None:
    populated.add_table("contact", "contacts", "contactid")

    def relation(attribute: str, navigation: str, target: str) -> dict[str, str]:
        return {
            "ReferencingAttribute": attribute,
            "ReferencingEntityNavigationPropertyName": navigation,
            "ReferencedEntity": target,
            "ReferencedAttribute": f"{target}id",
        }

    populated.relationships["contact"] = [
        relation("parentcustomerid", "parentcustomerid_account", "account"),
        relation("parentcustomerid", "parentcustomerid_contact", "contact"),
        relation("msdyn_company", "msdyn_Company", "cdm_company"),
    ]
    populated.keys["account"] = [
        {"SchemaName": "msdynce_AccountNumber", "LogicalName": "msdynce_accountnumber",
         "KeyAttributes": ["accountnumber"], "EntityKeyIndexStatus": "Active"},
    ]  # fmt: skip
    client = make_client(populated)
    meta = client.metadata
    info = meta.entity("contact")
    assert (info.entity_set_name, info.primary_id_attribute) == ("contacts", "contactid")
    assert meta.navigation_property("contact", "msdyn_company") == "msdyn_Company"
    assert (
        meta.navigation_property("contact", "parentcustomerid", target="account")
        == "parentcustomerid_account"
    )
    with pytest.raises(UsageError, match="several tables"):
        meta.navigation_property("contact", "parentcustomerid")
    with pytest.raises(UsageError, match="not a lookup"):
        meta.navigation_property("contact", "nosuchcolumn")
    assert meta.keys("account") == (
        EntityKey("msdynce_AccountNumber", "msdynce_accountnumber", ("accountnumber",), "Active"),
    )
    meta.entity("contact")
    meta.lookups("contact")
    paths = [r.path for r in populated.seen("GET", "EntityDefinitions")]
    assert paths == [
        "EntityDefinitions(LogicalName='contact')",
        "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships",
        "EntityDefinitions(LogicalName='account')/Keys",
    ]
    assert (
        populated.seen("GET", "EntityDefinitions")[0].query["$select"]
        == "LogicalName,EntitySetName,PrimaryIdAttribute"
    )
    with pytest.raises(UsageError, match="no table"):
        meta.entity("nosuchtable")


def test_reference_resolver_caches_and_binds(populated: FakeDataverse) -> None:
    client = make_client(populated)
    refs = client.references
    company = refs.require("cdm_companies", {"cdm_companycode": "USMF"}, "cdm_companyid")
    assert refs.bind("msdyn_company", "cdm_companies", {"cdm_companycode": "USMF"}, "cdm_companyid") == {
        "msdyn_company@odata.bind": f"/cdm_companies({company})"
    }
    assert len(populated.seen("GET", "cdm_companies")) == 1
    with pytest.raises(ReferenceNotFound):
        refs.require("cdm_companies", {"cdm_companycode": "XXXX"}, "cdm_companyid")
    with pytest.raises(AmbiguousReference):
        refs.require("cdm_companies", {"cdm_companycode": "DUP"}, "cdm_companyid")
    with pytest.raises(ReferenceNotFound):  # the 'none' answer is cached too
        refs.require("cdm_companies", {"cdm_companycode": "XXXX"}, "cdm_companyid")
    assert len(populated.seen("GET", "cdm_companies")) == 3
    assert bind("parentcustomerid_account", "accounts", company) == {
        "parentcustomerid_account@odata.bind": f"/accounts({company})"
    }


def test_a_read_of_the_default_number_of_ids_fits_in_a_get_url() -> None:
    """The longest primary id column the uploader reads by (salesorderdetailid) at the default ids per GET,
    on a long environment URL: under Dataverse's 32,768-character URL limit, with room to spare."""
    from p2c.dataverse.odata import ids_filter, query_string
    from p2c.dataverse.options import ClientOptions

    ids = [uuid.uuid4() for _ in range(ClientOptions().ids_per_query)]
    columns = ["salesorderdetailid", "_msdyn_company_value", "sequencenumber", "msdyn_linenumber"]
    url = (
        "https://contoso-production-environment.crm4.dynamics.com/api/data/v9.2/salesorderdetails?"
        + query_string({"$select": ",".join(columns), "$filter": ids_filter("salesorderdetailid", ids)})
    )
    assert len(url) < 24_000, len(url)
