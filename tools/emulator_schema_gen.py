"""Generate `schema.json`, the emulator's picture of the Dataverse tables, from the research notes.

The emulator must not learn its tables from the project's own dbt contracts (`meta.dataverse`): then client
and emulator would agree by construction and a wrong key could never fail a test. So the schema is built
from the documented reference in the sibling `shared/reference` folder:

* the dual-write map JSON files (`dualwrite-maps/*.json`) give the mapped columns, their lookups and the
  choice values of their value maps;
* every other fact (keys, navigation property casing, lengths, option lists, what is UNCONFIRMED) is written
  below as a `Fact` that quotes the sentence of the reference that states it. The generator checks that the
  quote is still in the reference, so a fact whose source changed fails generation instead of going stale.

Run `python tools/emulator_schema_gen.py [--reference DIR] [--output FILE]` from the project root; a test
regenerates the file and asserts the committed copy is identical. The runtime package `p2c.emulator` only
loads the committed `schema.json` (`p2c/emulator/schema.py`): this generator is not part of it."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# a build-time tool of the source tree (never installed): the project root is its parent folder
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
DEFAULT_OUTPUT = PROJECT_ROOT / "p2c" / "emulator" / "schema.json"

WEB_API = "dataverse-web-api.md"
TARGET = "dualwrite-target-schema.md"
IDENTITY = "initialization-identity.md"
RECORD_STATE = "record-state.md"
P2C_COLUMNS = "p2c-solution-columns.csv"

# Dataverse's own ceiling for a single line of text; used where the reference gives no MaxLength.
DEFAULT_STRING_MAX = 4000


class ReferenceMismatch(Exception):
    """A quoted fact is no longer in the reference: re-read the source before regenerating."""


@dataclass(frozen=True)
class Fact:
    """One statement taken from the reference: the file, the words, and how sure the reference is."""

    file: str
    quote: str
    confidence: str = "CONFIRMED"  # CONFIRMED / STRONG / third-party / UNCONFIRMED / standard

    def cite(self) -> dict[str, str]:
        return {"file": self.file, "quote": self.quote, "confidence": self.confidence}


# Facts that are standard Dataverse platform behaviour and not stated in the reference notes.
STANDARD = Fact("", "", "standard")


@dataclass
class ColumnSpec:
    type: str
    max_length: int | None = None
    options: dict[str, str] | None = None  # value -> label
    read_only: bool = False
    updatable: bool = True
    fact: Fact = STANDARD
    note: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    unconfirmed: bool = False  # the type/limits are not stated by the reference: derived, see `note`
    state_of_status: dict[str, str] | None = None  # a statuscode: each status reason -> its statecode


@dataclass
class LookupSpec:
    """A lookup column; `targets` maps target table -> case-sensitive navigation property name."""

    targets: dict[str, str]
    fact: Fact = STANDARD
    note: str | None = None
    updatable: bool = True
    update_note: str | None = None


@dataclass
class KeySpec:
    name: str
    attributes: list[str]
    fact: Fact
    note: str | None = None


@dataclass
class TableSpec:
    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    fact: Fact
    bulk_messages: list[str]
    bulk_fact: Fact
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    lookups: dict[str, LookupSpec] = field(default_factory=dict)
    keys: list[KeySpec] = field(default_factory=list)
    note: str | None = None


# --- facts quoted from the reference -------------------------------------------------------------------

F_COMPANY = Fact(
    TARGET, "The column is `msdyn_company`, a lookup to **`cdm_company`** (entity set `cdm_companies`"
)
F_COMPANY_KEY = Fact(
    TARGET,
    "Whether an alternate key exists on cdm_companycode is UNCONFIRMED",
    "UNCONFIRMED",
)
F_ACCOUNT_KEY = Fact(TARGET, "`accountnumber` + `msdyn_company.cdm_companycode` | S6")
F_ACCOUNT_PARTYKEY = Fact(
    TARGET, "| `msdyn_partyidkey` (GAB) | `customertypecode`, `msdyn_company`, `msdyn_partyid` |"
)
F_ACCOUNT_NORELKEY = Fact(
    TARGET,
    "| `msdyn_partywithnorelationshiptype` (GAB) | `msdyn_company`, `msdyn_hasnorelationshiptype`, "
    "`msdyn_partyid` |",
)
F_ACCOUNT_KEYNAME = Fact(
    TARGET,
    "Schema name of the (accountnumber, msdyn_company) alternate key | not found | UNCONFIRMED",
    "UNCONFIRMED",
)
F_P2C_INDEX = Fact(
    WEB_API,
    "If this index exists, you can't create the same customer account number in two different",
)
F_CONTACT_KEY = Fact(
    TARGET, "Integration key: `msdyn_contactpersonid` + `msdyn_company.cdm_companycode` (S6, CONFIRMED)"
)
F_CONTACT_GAB_KEYS = Fact(
    TARGET,
    "GAB keys (S3, CONFIRMED): `msdyn_partykey` (`msdyn_company`, `msdyn_partyid`), "
    "`msdyn_contactwithnocompany` "
    "(`msdyn_contacthasnocompany`, `msdyn_contactpersonid`) and `msdyn_partykeywithnocompany` "
    "(`msdyn_contacthasnocompany`, `msdyn_partyid`)",
)
F_ORDER_KEY = Fact(
    IDENTITY,
    "| salesorder | most likely `msdyn_salesordernumber` + `msdyn_company` | **UNCONFIRMED** |",
    "UNCONFIRMED",
)
F_QUOTE_KEY = Fact(
    IDENTITY, "| quote | most likely `msdyn_quotenumber` + `msdyn_company` | **UNCONFIRMED** |", "UNCONFIRMED"
)
F_ORDERLINE_KEY = Fact(
    IDENTITY,
    "| salesorderdetail | most likely `salesorderid` (expanded as `.msdyn_salesordernumber`) + "
    "`sequencenumber` "
    "(maybe + `msdyn_company`) | **UNCONFIRMED** |",
    "UNCONFIRMED",
)
F_QUOTELINE_KEY = Fact(
    IDENTITY,
    "| quotedetail | most likely `quoteid` (expanded as `.msdyn_quotenumber`) + `sequencenumber` | "
    "**UNCONFIRMED** |",
    "UNCONFIRMED",
)
F_PARTY_KEY = Fact(IDENTITY, "alternate key `msdyn_partykey` = `msdyn_partynumber`")
F_PARTY_NUMBER = Fact(
    IDENTITY,
    "`msdyn_partynumber` is required, MaxLength 40, auto-number `PAR-{SEQNUM:8}`, and "
    "**`ValidForUpdateApi=0`**",
)
F_PRODUCT_KEY = Fact(
    TARGET, "the unique key is **`productnumber` = concatenation of (company, msdyn_productnumber)**"
)
F_GROUP_KEY = Fact(
    TARGET, "| `msdyn_customergroupid` | `msdyn_customergroups` | (`msdyn_company`, `msdyn_groupid`) |"
)
F_CURRENCY_KEY = Fact(TARGET, "| `transactioncurrencyid` | `transactioncurrencies` | `isocurrencycode` |")
F_UOM_KEY = Fact(TARGET, "| `uomid` | `uoms` | `msdyn_symbol` |")
F_PRODUCT_LOOKUP = Fact(TARGET, "| `productid` | `products` | `productnumber` (company + number) |")
F_ORDER_COMPANY_NAV = Fact(
    TARGET, "salesorder's SchemaName is `msdyn_Company` while quotedetail's is `msdyn_company` (S7)"
)
F_QUOTE_COMPANY_NAV = Fact(
    TARGET,
    'Public code uses `"msdyn_Company@odata.bind": "/cdm_companies(<guid>)"` on quotes.',
    "third-party",
)
F_ACCOUNT_COMPANY_NAV = Fact(
    WEB_API,
    "Third-party code shows the dual-write company lookup written as `msdyn_Company@odata.bind` on "
    "quotes and\n"
    "  `msdyn_company@odata.bind` on accounts and leads.",
    "third-party",
)
F_CUSTOMER_NAVS = Fact(
    TARGET, "`customerid_account@odata.bind` and `customerid_contact@odata.bind` are standard."
)
F_PARENTCUSTOMER_NAV = Fact(WEB_API, "`parentcustomerid_account@odata.bind`\n  (contact)")
F_INVOICECUSTOMER_NAVS = Fact(
    TARGET,
    "The names for `msdyn_invoicecustomerid` are UNCONFIRMED; read them from `$metadata`.",
    "UNCONFIRMED",
)
F_ORDERLINE_COMPANY = Fact(
    TARGET, "Company column: `msdyn_company` is **UNCONFIRMED** on salesorderdetail.", "UNCONFIRMED"
)
F_QUOTELINE_COMPANY = Fact(
    TARGET, "quotedetail Company: `msdyn_company`, lookup to cdm_company (S7, CONFIRMED)."
)
F_QUOTE_COMPANY = Fact(TARGET, "quote Company: `msdyn_company`. STRONG.", "STRONG")
F_ORDER_NUMBER = Fact(TARGET, "| `msdyn_salesordernumber` | String, MaxLength **20**, ApplicationRequired |")
F_SHIPTO_COUNTRY = Fact(TARGET, "| `shipto_country` | String(80) |")
F_ACCOUNTNUMBER = Fact(TARGET, "| Account Number | `accountnumber` | String, MaxLength 20 |")
F_CUSTOMERTYPE = Fact(
    TARGET,
    "**3 = Customer, 8 = Prospect** (1 Competitor, 2 Consultant, 4 Investor, 5 Partner, 6 "
    "Influencer, 7 Press, "
    "9 Reseller, 10 Supplier, 11 Vendor, 12 Other)",
)
F_ORDERTYPE = Fact(
    TARGET,
    'Picklist: **192350000 = "Item based"**. Field Service adds 690970002 Service-Maintenance Based; '
    "PSA adds 192350001 Work based",
)
F_LINESTATUS = Fact(TARGET, "`msdyn_linestatus` (192350000–192350004)")
F_CONTACTNOCOMPANY = Fact(TARGET, "`msdyn_contacthasnocompany` (picklist 192360000 = True)")
F_NORELTYPE = Fact(TARGET, "`msdyn_hasnorelationshiptype` option 192350000 = True")
F_CONTACTFOR = Fact(TARGET, "| Contact For | `msdyn_contactfor` | **String**")
F_SELLABLE = Fact(TARGET, "| Sellable | `msdyn_sellable` | Boolean.")
F_ISPROSPECT = Fact(TARGET, '| Is Prospect | `msdyn_isprospect` | Boolean, "Indicates', "STRONG")
F_CONTACTNUMBER = Fact(TARGET, '| Contact number | `msdyn_contactnumber` | String, "Contact Number" |')
F_CONTACTPERSONID = Fact(TARGET, "| Account Number/Contact Person ID | `msdyn_contactpersonid` | String.")
F_PARTYNUMBER_ACCOUNT = Fact(
    TARGET,
    '| Party Number | `msdyn_partynumber` (string; labelled "(Deprecated) Party Number" once GAB is '
    "installed)",
)
F_REQUESTED_RECEIPT = Fact(
    TARGET,
    "| Requested Receipt Date | `msdyn_requestedreceiptdate` | DateTime, DateOnly, TimeZoneIndependent |",
)
F_DATEONLY_QUOTE = Fact(
    WEB_API, "Among the out-of-box DateOnly columns are quote `closedon` and\n    `expireson`"
)
NOTE_TZ_INDEPENDENT = (
    "TimeZoneIndependent behaviour is exposed as Edm.DateTimeOffset (reference §2.5): a date or a date-time"
)
F_QUOTATIONNUMBER = Fact(TARGET, "`msdyn_quotationnumber`(20)")
F_BULK_SIX = Fact(
    RECORD_STATE,
    "UpdateMultiple is listed on all six tables, account and contact included (**CONFIRMED**, "
    "generated table references).",
)
F_BULK_SALES = Fact(
    WEB_API,
    "**Current support for account, contact, quote, quotedetail,\n    salesorder and "
    "salesorderdetail is UNCONFIRMED.**",
    "UNCONFIRMED",
)
F_COMPANY_READONLY = Fact(
    IDENTITY, "(UI read-only for certain; whether the API also refuses is **UNCONFIRMED**.)", "UNCONFIRMED"
)
# The statecode/statuscode pairs: each state with its status reasons (the first its default).
F_QUOTE_STATES = Fact(
    RECORD_STATE,
    "`statecode` 0 Draft (default status 1 In Progress), 1 Active (2 In Progress, 3 Open), 2 Won (4 Won), "
    "3 Closed (5 Lost, 6 Canceled, 7 Revised).",
)
F_ORDER_STATES = Fact(
    RECORD_STATE,
    "`statecode` 0 Active (1 New, 2 Pending), 1 Submitted (3 In Progress), 2 Canceled (4 No Money), 3 "
    "Fulfilled (100001 Complete, 100002 Partial), 4 Invoiced (100003 Invoiced).",
)
# account/contact: the states are stated, the status reasons (1 Active, 2 Inactive) are the standard ones;
# that 2 does not belong to Active is third-party (the 0x80048408 answer).
F_CUSTOMER_STATUS = Fact(
    RECORD_STATE,
    '"2 is not a valid status code for state code AccountState.Active on account with Id …"',
    "third-party",
)
STANDARD_CUSTOMER_STATES = "`statecode` 0 Active (1 Active), 1 Inactive (2 Inactive)."
F_INVOICE = Fact(TARGET, "These flow from F&O to CE only and are **not initialized** (S1).")
F_ENTITY_SETS = Fact(TARGET, "| `msdyn_company` | `cdm_companies` | `cdm_companycode`.")

MEMO_DEFAULT_MAX = 2000
NOTE_DEFAULT_MEMO = (
    "no MaxLength in the reference: the emulator uses 2,000, the MaxLength of the standard Dataverse "
    "`description` columns (UNCONFIRMED for this column)"
)
NUMERIC_RANGES: dict[str, tuple[float, float]] = {}  # filled below, once the ranges are defined

NOTE_DEFAULT_LENGTH = (
    "no MaxLength in the reference: the emulator allows Dataverse's single-line maximum of "
    f"{DEFAULT_STRING_MAX}"
)

# Platform ranges of the numeric types (Dataverse column-type limits; not in the reference notes, so
# labelled "standard"): a Whole Number is a 32-bit integer, a Decimal +-100,000,000,000, Money
# +-922,337,203,685,477.
INTEGER_RANGE = (-2147483648, 2147483647)
DECIMAL_RANGE = (-100000000000, 100000000000)
MONEY_RANGE = (-922337203685477, 922337203685477)
# Sales' amount columns (discount, freight, tax, totals) take 0 .. 1,000,000,000,000 in the table
# reference of quote/salesorder/invoice; the shared reference does not state it: UNCONFIRMED.
SALES_AMOUNT_RANGE = (0, 1000000000000)
NUMERIC_RANGES.update({"integer": INTEGER_RANGE, "decimal": DECIMAL_RANGE, "money": MONEY_RANGE})
# The documented minimum of every date and time column (reference §2.5 "Minimum value: 1/1/1753").
F_DATE_MINIMUM = Fact(WEB_API, "Minimum value: 1/1/1753 12:00 AM.")
DATE_MINIMUM = "1753-01-01"
F_INVALID_CHARACTERS = Fact(
    WEB_API, "Text values cannot contain some characters (`InvalidCharactersInField`)"
)

NOTE_DERIVED = (
    "UNCONFIRMED: the reference names the column (dual-write map) but not its type; typed from the "
    "standard Dataverse/Sales column of that name or its F&O counterpart"
)


def _derived(kind: str, max_length: int | None = None, **extra: Any) -> ColumnSpec:
    return ColumnSpec(kind, max_length, unconfirmed=True, note=NOTE_DERIVED, **extra)


def _amount() -> ColumnSpec:
    low, high = SALES_AMOUNT_RANGE
    return _derived("money", minimum=low, maximum=high)


# Columns the dual-write maps name without a type. Keyed by column name (the same name has the same type
# on quote, salesorder, invoice, account and contact). Address lengths are the standard Dataverse address
# columns' (line 250, city 80, state 50, postal code 20, country 80).
DERIVED_COLUMNS: dict[str, ColumnSpec] = {
    "billto_city": _derived("string", 80),
    "billto_country": _derived("string", 80),
    "billto_line1": _derived("string", 250),
    "billto_line2": _derived("string", 250),
    "billto_postalcode": _derived("string", 20),
    "billto_stateorprovince": _derived("string", 50),
    "shipto_city": _derived("string", 80),
    "shipto_line1": _derived("string", 250),
    "shipto_line2": _derived("string", 250),
    "shipto_postalcode": _derived("string", 20),
    "shipto_stateorprovince": _derived("string", 50),
    "emailaddress": _derived("string", 100),
    "description": _derived("memo", 2000),
    "discountamount": _amount(),
    "freightamount": _amount(),
    "totaltax": _amount(),
    "msdyn_totalamount": _amount(),
    "msdyn_totaltax": _amount(),
    "msdyn_totaldiscountamount": _amount(),
    "msdyn_totaldiscountpercentage": _derived("decimal", minimum=0, maximum=100),
    "msdyn_deliveryaddresslatitude": _derived("decimal", minimum=-90, maximum=90),
    "msdyn_invoiceaddresslatitude": _derived("decimal", minimum=-90, maximum=90),
    "msdyn_deliveryaddresslongitude": _derived("decimal", minimum=-180, maximum=180),
    "msdyn_invoiceaddresslongitude": _derived("decimal", minimum=-180, maximum=180),
    "msdyn_formatteddeliveryaddress": _derived("memo", 2000),
    "msdyn_formattedinvoiceaddress": _derived("memo", 2000),
    "msdyn_url": _derived("string", 255),
    "msdyn_isocurrencycode": _derived("string", 3),
    "msdyn_invoiceaddresscountryregionid": _derived("string", 10),
    "msdyn_deliveryaddresscountyid": _derived("string", 10),
    "msdyn_invoiceaddresscountyid": _derived("string", 10),
    "msdyn_deliveryaddressdistrictname": _derived("string", 60),
    "msdyn_invoiceaddressdistrictname": _derived("string", 60),
    "msdyn_deliveryaddressdunsnumber": _derived("string", 9),
    "msdyn_deliveryaddresslocationid": _derived("string", 20),
    "msdyn_deliveryaddressname": _derived("string", 100),
    "msdyn_deliveryaddressdescription": _derived("string", 60),
    "msdyn_deliveryaddresspostbox": _derived("string", 20),
    "msdyn_invoiceaddresspostbox": _derived("string", 20),
    "msdyn_deliverybuildingcompliment": _derived("string", 60),
    "msdyn_invoicebuildingcompliment": _derived("string", 60),
    "msdyn_customerrequisitionnumber": _derived("string", 20),
    "msdyn_customersreference": _derived("string", 60),
    "msdyn_customersorderreference": _derived("string", 60),
    "msdyn_salesquotationconfirmationdate": _derived("datetime"),
    "msdyn_salesquotationexpirydate": _derived("datetime"),
    "msdyn_salesquotationfollowupdate": _derived("datetime"),
    "msdyn_confirmedreceiptdate": _derived("datetime"),
    "msdyn_confirmedshippingdate": _derived("datetime"),
    "msdyn_paymenttermsbasedate": _derived("datetime"),
    "msdyn_invoicedate": _derived("datetime"),
    "msdyn_invoicenumber": _derived("string", 100),
    "msdyn_ledgervoucher": _derived("string", 20),
    "msdyn_creditrating": _derived("string", 10),
    "msdyn_identificationnumber": _derived("string", 50),
    "msdyn_partycountry": _derived("string", 10),
    "msdyn_partystateprovince": _derived("string", 10),
    "msdyn_paymenttermsbasedays": _derived("integer", minimum=0, maximum=INTEGER_RANGE[1]),
    "msdyn_taxexemptnumber": _derived("string", 20),
}

# Map JSON entity sets (and `destinationLookupFieldRelatedEntity`) -> the tables the emulator models.
ENTITY_SET_TABLES = {
    "accounts": "account",
    "contacts": "contact",
    "salesorders": "salesorder",
    "quotes": "quote",
    "invoices": "invoice",
    "transactioncurrencies": "transactioncurrency",
    "msdyn_customergroups": "msdyn_customergroup",
    "msdyn_parties": "msdyn_party",
}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Reference:
    """The reference folder, read once; `check` proves a fact is still stated there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not (folder / WEB_API).is_file():
            raise FileNotFoundError(f"no {WEB_API} in {folder}: pass --reference <shared/reference folder>")
        self._texts: dict[str, str] = {}

    def text(self, name: str) -> str:
        if name not in self._texts:
            self._texts[name] = _normalise((self.folder / name).read_text(encoding="utf-8"))
        return self._texts[name]

    def check(self, fact: Fact) -> None:
        if not fact.file:
            return
        if _normalise(fact.quote) not in self.text(fact.file):
            raise ReferenceMismatch(f"{fact.file} no longer says: {fact.quote!r}")

    def maps(self) -> list[tuple[str, dict[str, Any]]]:
        folder = self.folder / "dualwrite-maps"
        return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(folder.glob("*.json"))]

    def p2c_max_length(self, table: str, column: str) -> int | None:
        for line in (self.folder / P2C_COLUMNS).read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split(",")
            if cells[0] == table and cells[1] == column and cells[4]:
                return int(cells[4])
        return None

    def fingerprint(self, names: list[str]) -> dict[str, str]:
        return {n: hashlib.sha256((self.folder / n).read_bytes()).hexdigest() for n in sorted(names)}


def _company_lookup(nav: str, fact: Fact, note: str | None = None) -> LookupSpec:
    return LookupSpec({"cdm_company": nav}, fact, note)


def _base_tables() -> dict[str, TableSpec]:
    """The tables, with the facts the map JSON does not carry."""
    bulk_all = ["CreateMultiple", "UpdateMultiple"]
    str_ = ColumnSpec
    tables = {
        "cdm_company": TableSpec(
            "cdm_company",
            "cdm_companies",
            "cdm_companyid",
            "cdm_name",
            F_COMPANY,
            bulk_all,
            F_BULK_SALES,
            columns={"cdm_companycode": str_("string", fact=F_COMPANY), "cdm_name": str_("string")},
            keys=[
                KeySpec(
                    "cdm_companycodekey",
                    ["cdm_companycode"],
                    F_COMPANY_KEY,
                    "kept as the documented way to bind (`/cdm_companies(cdm_companycode='USMF')`); "
                    "the key's existence and name are UNCONFIRMED",
                )
            ],
        ),
        "msdyn_customergroup": TableSpec(
            "msdyn_customergroup",
            "msdyn_customergroups",
            "msdyn_customergroupid",
            "msdyn_groupid",
            F_GROUP_KEY,
            bulk_all,
            F_BULK_SALES,
            columns={"msdyn_groupid": str_("string", fact=F_GROUP_KEY), "msdyn_description": str_("string")},
            lookups={
                "msdyn_company": _company_lookup("msdyn_company", F_GROUP_KEY, "navigation name UNCONFIRMED")
            },
            keys=[
                KeySpec(
                    "msdyn_customergroupkey",
                    ["msdyn_company", "msdyn_groupid"],
                    F_GROUP_KEY,
                    "key name UNCONFIRMED",
                )
            ],
        ),
        "transactioncurrency": TableSpec(
            "transactioncurrency",
            "transactioncurrencies",
            "transactioncurrencyid",
            "currencyname",
            F_CURRENCY_KEY,
            [],
            F_BULK_SALES,
            columns={
                "isocurrencycode": str_("string", 5),
                "currencyname": str_("string", 100),
                "currencysymbol": str_("string", 10),
            },
            keys=[KeySpec("isocurrencycodekey", ["isocurrencycode"], F_CURRENCY_KEY, "key name UNCONFIRMED")],
        ),
        "uom": TableSpec(
            "uom",
            "uoms",
            "uomid",
            "name",
            F_UOM_KEY,
            [],
            F_BULK_SALES,
            columns={
                "name": str_("string", 100),
                "msdyn_symbol": str_("string", fact=F_UOM_KEY),
                "quantity": str_("decimal"),
            },
            keys=[KeySpec("msdyn_symbolkey", ["msdyn_symbol"], F_UOM_KEY, "key name UNCONFIRMED")],
        ),
        "pricelevel": TableSpec(
            "pricelevel",
            "pricelevels",
            "pricelevelid",
            "name",
            STANDARD,
            [],
            F_BULK_SALES,
            columns={"name": str_("string", 100)},
            lookups={"transactioncurrencyid": LookupSpec({"transactioncurrency": "transactioncurrencyid"})},
            keys=[],
            note="price lists are matched by name; the reference defines no alternate key for them",
        ),
        "product": TableSpec(
            "product",
            "products",
            "productid",
            "name",
            F_PRODUCT_KEY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "productnumber": str_("string", 100, fact=F_PRODUCT_KEY),
                "msdyn_productnumber": str_("string", fact=F_PRODUCT_LOOKUP),
                "name": str_("string", 100),
                "description": str_("memo"),
                "msdyn_itemnumber": str_("string"),
                "price": str_("money"),
                "currentcost": str_("money"),
                "producttypecode": str_(
                    "choice",
                    options={
                        "1": "Sales Inventory",
                        "2": "Miscellaneous Charges",
                        "3": "Services",
                        "4": "Flat Fees",
                    },
                ),
                "statecode": str_(
                    "choice", options={"0": "Active", "1": "Retired", "2": "Draft", "3": "Under Revision"}
                ),
            },
            lookups={"defaultuomid": LookupSpec({"uom": "defaultuomid"})},
            keys=[
                KeySpec(
                    "productnumberkey",
                    ["productnumber"],
                    F_PRODUCT_KEY,
                    "seeded as company code + number; the concatenation's exact format is UNCONFIRMED",
                )
            ],
        ),
        "msdyn_party": TableSpec(
            "msdyn_party",
            "msdyn_parties",
            "msdyn_partyid",
            "msdyn_name",
            F_PARTY_KEY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "msdyn_partynumber": str_("string", 40, updatable=False, fact=F_PARTY_NUMBER),
                "msdyn_name": str_("string"),
            },
            keys=[KeySpec("msdyn_partykey", ["msdyn_partynumber"], F_PARTY_KEY)],
        ),
        "account": TableSpec(
            "account",
            "accounts",
            "accountid",
            "name",
            F_COMPANY,
            bulk_all,
            F_BULK_SIX,
            columns={
                "accountnumber": str_("string", 20, fact=F_ACCOUNTNUMBER),
                "customertypecode": str_("choice", fact=F_CUSTOMERTYPE),
                "msdyn_partynumber": str_("string", fact=F_PARTYNUMBER_ACCOUNT),
                "msdyn_hasnorelationshiptype": str_(
                    "choice", options={"192350000": "True"}, fact=F_NORELTYPE
                ),
                "name": str_("string", 160),
                "telephone1": str_("string", 50),
                "emailaddress1": str_("string", 100),
                "address1_line1": str_("string", 250),
                "address1_city": str_("string", 80),
                "address1_postalcode": str_("string", 20),
                "address1_country": str_("string", 80),
                "statecode": str_("choice", options={"0": "Active", "1": "Inactive"}),
            },
            lookups={
                "msdyn_company": _company_lookup("msdyn_company", F_ACCOUNT_COMPANY_NAV),
                "primarycontactid": LookupSpec({"contact": "primarycontactid"}),
            },
            keys=[
                KeySpec(
                    "msdyn_accountnumber_company",
                    ["accountnumber", "msdyn_company"],
                    F_ACCOUNT_KEY,
                    "the key's schema name is UNCONFIRMED",
                ),
                KeySpec(
                    "msdyn_partyidkey",
                    ["customertypecode", "msdyn_company", "msdyn_partyid"],
                    F_ACCOUNT_PARTYKEY,
                ),
                KeySpec(
                    "msdyn_partywithnorelationshiptype",
                    ["msdyn_company", "msdyn_hasnorelationshiptype", "msdyn_partyid"],
                    F_ACCOUNT_NORELKEY,
                ),
            ],
        ),
        "contact": TableSpec(
            "contact",
            "contacts",
            "contactid",
            "fullname",
            F_COMPANY,
            bulk_all,
            F_BULK_SIX,
            columns={
                "msdyn_contactnumber": str_("string", fact=F_CONTACTNUMBER),
                "msdyn_contactpersonid": str_("string", fact=F_CONTACTPERSONID),
                "msdyn_contactfor": str_(
                    "string", fact=F_CONTACTFOR, note="the value to write is UNCONFIRMED"
                ),
                "msdyn_sellable": str_("boolean", fact=F_SELLABLE),
                "msdyn_isprospect": str_("boolean", fact=F_ISPROSPECT),
                "msdyn_partynumber": str_("string", fact=F_PARTYNUMBER_ACCOUNT),
                "msdyn_contacthasnocompany": str_(
                    "choice", options={"192360000": "True"}, fact=F_CONTACTNOCOMPANY
                ),
                "firstname": str_("string", 50),
                "lastname": str_("string", 50),
                "fullname": str_("string", 160, read_only=True, note="computed from firstname and lastname"),
                "emailaddress1": str_("string", 100),
                "telephone1": str_("string", 50),
                "statecode": str_("choice", options={"0": "Active", "1": "Inactive"}),
            },
            lookups={
                "msdyn_company": _company_lookup(
                    "msdyn_company", F_CONTACT_KEY, "navigation name casing UNCONFIRMED"
                ),
                "parentcustomerid": LookupSpec(
                    {"account": "parentcustomerid_account", "contact": "parentcustomerid_contact"},
                    F_PARENTCUSTOMER_NAV,
                ),
            },
            keys=[
                KeySpec(
                    "msdyn_contactpersonid_company",
                    ["msdyn_contactpersonid", "msdyn_company"],
                    F_CONTACT_KEY,
                    "the key's schema name is UNCONFIRMED",
                ),
                KeySpec("msdyn_partykey", ["msdyn_company", "msdyn_partyid"], F_CONTACT_GAB_KEYS),
                KeySpec(
                    "msdyn_contactwithnocompany",
                    ["msdyn_contacthasnocompany", "msdyn_contactpersonid"],
                    F_CONTACT_GAB_KEYS,
                ),
                KeySpec(
                    "msdyn_partykeywithnocompany",
                    ["msdyn_contacthasnocompany", "msdyn_partyid"],
                    F_CONTACT_GAB_KEYS,
                ),
            ],
        ),
        "salesorder": TableSpec(
            "salesorder",
            "salesorders",
            "salesorderid",
            "name",
            F_COMPANY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "msdyn_salesordernumber": str_("string", 20, fact=F_ORDER_NUMBER),
                "shipto_country": str_("string", 80, fact=F_SHIPTO_COUNTRY),
                "msdyn_requestedreceiptdate": str_(
                    "datetime", fact=F_REQUESTED_RECEIPT, note=NOTE_TZ_INDEPENDENT
                ),
                "msdyn_ordertype": str_("choice", fact=F_ORDERTYPE),
                "msdyn_quotationnumber": str_("string", 20, fact=F_QUOTATIONNUMBER),
                "ordernumber": str_("string", 100),
                "name": str_("string", 300),
                "requestdeliveryby": str_("datetime"),
                "submitdate": str_("datetime"),
                "datefulfilled": str_("datetime"),
                "totalamount": str_("money"),
                "statecode": str_(
                    "choice",
                    options={
                        "0": "Active",
                        "1": "Submitted",
                        "2": "Canceled",
                        "3": "Fulfilled",
                        "4": "Invoiced",
                    },
                ),
            },
            lookups={
                "msdyn_company": _company_lookup("msdyn_Company", F_ORDER_COMPANY_NAV),
                "customerid": LookupSpec(
                    {"account": "customerid_account", "contact": "customerid_contact"}, F_CUSTOMER_NAVS
                ),
                "msdyn_invoicecustomerid": LookupSpec(
                    {
                        "account": "msdyn_invoicecustomerid_account",
                        "contact": "msdyn_invoicecustomerid_contact",
                    },
                    F_INVOICECUSTOMER_NAVS,
                    "navigation names follow the customerid pattern: UNCONFIRMED",
                ),
                "pricelevelid": LookupSpec({"pricelevel": "pricelevelid"}),
                "quoteid": LookupSpec({"quote": "quoteid"}),
            },
            keys=[
                KeySpec(
                    "msdyn_salesordernumber_company",
                    ["msdyn_salesordernumber", "msdyn_company"],
                    F_ORDER_KEY,
                    "documented default; key name and columns UNCONFIRMED",
                )
            ],
        ),
        "salesorderdetail": TableSpec(
            "salesorderdetail",
            "salesorderdetails",
            "salesorderdetailid",
            "productdescription",
            F_ORDERLINE_KEY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "sequencenumber": str_("integer", fact=F_ORDERLINE_KEY),
                "quantity": str_("decimal"),
                "priceperunit": str_("money"),
                "manualdiscountamount": str_("money"),
                "extendedamount": str_("money", read_only=True, note="calculated by Sales"),
                "ispriceoverridden": str_("boolean"),
                "isproductoverridden": str_("boolean"),
                "productdescription": str_("string", 500),
                "description": str_("memo"),
                "msdyn_requestedreceiptdate": str_(
                    "datetime", fact=F_REQUESTED_RECEIPT, note=NOTE_TZ_INDEPENDENT
                ),
                "requestdeliveryby": str_("datetime"),
                "shipto_country": str_("string", 80),
                "msdyn_linestatus": str_(
                    "choice", options={str(v): str(v) for v in range(192350000, 192350005)}, fact=F_LINESTATUS
                ),
            },
            lookups={
                "salesorderid": LookupSpec({"salesorder": "salesorderid"}, F_ORDERLINE_KEY),
                "productid": LookupSpec({"product": "productid"}, F_PRODUCT_LOOKUP),
                "uomid": LookupSpec({"uom": "uomid"}, F_UOM_KEY),
                "msdyn_company": _company_lookup(
                    "msdyn_company",
                    F_ORDERLINE_COMPANY,
                    "the column's existence on order lines is UNCONFIRMED",
                ),
            },
            keys=[
                KeySpec(
                    "msdyn_salesorderline_sequence",
                    ["salesorderid", "sequencenumber"],
                    F_ORDERLINE_KEY,
                    "documented default; key name and columns UNCONFIRMED",
                )
            ],
        ),
        "quote": TableSpec(
            "quote",
            "quotes",
            "quoteid",
            "name",
            F_COMPANY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "msdyn_quotenumber": str_(
                    "string",
                    20,
                    fact=F_QUOTE_KEY,
                    note="MaxLength taken as that of msdyn_salesordernumber: UNCONFIRMED",
                ),
                "msdyn_ordertype": str_("choice", fact=F_ORDERTYPE),
                "msdyn_requestedreceiptdate": str_(
                    "datetime", fact=F_REQUESTED_RECEIPT, note=NOTE_TZ_INDEPENDENT
                ),
                "quotenumber": str_("string", 100),
                "revisionnumber": str_("integer"),
                "name": str_("string", 300),
                "requestdeliveryby": str_("datetime"),
                "effectivefrom": str_("datetime"),
                "closedon": str_("dateonly", fact=F_DATEONLY_QUOTE),
                "shipto_country": str_("string", 80),
                "totalamount": str_("money"),
                "statecode": str_("choice", options={"0": "Draft", "1": "Active", "2": "Won", "3": "Closed"}),
                "statuscode": str_("integer"),
            },
            lookups={
                "msdyn_company": _company_lookup("msdyn_Company", F_QUOTE_COMPANY_NAV),
                "customerid": LookupSpec(
                    {"account": "customerid_account", "contact": "customerid_contact"}, F_CUSTOMER_NAVS
                ),
                "msdyn_invoicecustomerid": LookupSpec(
                    {
                        "account": "msdyn_invoicecustomerid_account",
                        "contact": "msdyn_invoicecustomerid_contact",
                    },
                    F_INVOICECUSTOMER_NAVS,
                    "navigation names follow the customerid pattern: UNCONFIRMED",
                ),
                "pricelevelid": LookupSpec({"pricelevel": "pricelevelid"}),
            },
            keys=[
                KeySpec(
                    "msdyn_quotenumber_company",
                    ["msdyn_quotenumber", "msdyn_company"],
                    F_QUOTE_KEY,
                    "documented default; key name and columns UNCONFIRMED",
                )
            ],
            note="company column: " + F_QUOTE_COMPANY.quote,
        ),
        "quotedetail": TableSpec(
            "quotedetail",
            "quotedetails",
            "quotedetailid",
            "productdescription",
            F_QUOTELINE_KEY,
            bulk_all,
            F_BULK_SALES,
            columns={
                "sequencenumber": str_("integer", fact=F_QUOTELINE_KEY),
                "quantity": str_("decimal"),
                "priceperunit": str_("money"),
                "extendedamount": str_("money", read_only=True, note="calculated by Sales"),
                "ispriceoverridden": str_("boolean"),
                "isproductoverridden": str_("boolean"),
                "productdescription": str_("string", 500),
                "msdyn_linedescription2": str_("string"),
                "msdyn_requestedreceiptdate": str_(
                    "datetime", fact=F_REQUESTED_RECEIPT, note=NOTE_TZ_INDEPENDENT
                ),
            },
            lookups={
                "quoteid": LookupSpec({"quote": "quoteid"}, F_QUOTELINE_KEY),
                "productid": LookupSpec({"product": "productid"}, F_PRODUCT_LOOKUP),
                "uomid": LookupSpec({"uom": "uomid"}, F_UOM_KEY),
                "msdyn_company": _company_lookup("msdyn_company", F_QUOTELINE_COMPANY),
            },
            keys=[
                KeySpec(
                    "msdyn_quoteline_sequence",
                    ["quoteid", "sequencenumber"],
                    F_QUOTELINE_KEY,
                    "documented default; key name and columns UNCONFIRMED",
                )
            ],
        ),
        "invoice": TableSpec(
            "invoice",
            "invoices",
            "invoiceid",
            "name",
            F_INVOICE,
            [],
            F_BULK_SALES,
            columns={
                "invoicenumber": str_("string", 100),
                "name": str_("string", 300),
                "totalamount": str_("money"),
                "statecode": str_("integer"),
            },
            lookups={
                "salesorderid": LookupSpec({"salesorder": "salesorderid"}),
                "customerid": LookupSpec(
                    {"account": "customerid_account", "contact": "customerid_contact"}, F_CUSTOMER_NAVS
                ),
            },
            keys=[],
            note="not initialized by the migration; present so exported invoices can be seeded",
        ),
        "invoicedetail": TableSpec(
            "invoicedetail",
            "invoicedetails",
            "invoicedetailid",
            "productdescription",
            F_INVOICE,
            [],
            F_BULK_SALES,
            columns={
                "quantity": str_("decimal"),
                "priceperunit": str_("money"),
                "extendedamount": str_("money"),
                "sequencenumber": str_("integer"),
            },
            lookups={
                "invoiceid": LookupSpec({"invoice": "invoiceid"}),
                "productid": LookupSpec({"product": "productid"}),
                "uomid": LookupSpec({"uom": "uomid"}),
            },
            keys=[],
        ),
    }
    # Account customer group and the transaction currency exist on every customer table (reference §2.9).
    for name in ("account", "contact"):
        tables[name].lookups["msdyn_customergroupid"] = LookupSpec(
            {"msdyn_customergroup": "msdyn_customergroupid"}, F_GROUP_KEY
        )
        tables[name].lookups["msdyn_partyid"] = LookupSpec({"msdyn_party": "msdyn_partyid"}, F_PARTY_KEY)
    for name in ("account", "contact", "salesorder", "quote", "invoice"):
        tables[name].lookups["transactioncurrencyid"] = LookupSpec(
            {"transactioncurrency": "transactioncurrencyid"}, F_CURRENCY_KEY
        )
        tables[name].columns.setdefault("description", DERIVED_COLUMNS["description"])
    tables["account"].columns.setdefault("creditlimit", ColumnSpec("money"))
    # Sales calculates the totals (not valid for create or update); the quote number is set on create
    # only. The shared reference does not state either: UNCONFIRMED, from Microsoft's quote/salesorder
    # table reference (TotalAmount: IsValidForCreate/Update False; QuoteNumber: IsValidForUpdate False).
    for name in ("salesorder", "quote", "invoice"):
        tables[name].columns["totalamount"] = _derived(
            "money", read_only=True, minimum=SALES_AMOUNT_RANGE[0], maximum=SALES_AMOUNT_RANGE[1]
        )
    tables["quote"].columns["quotenumber"] = _derived("string", 100, updatable=False)
    tables["salesorder"].lookups["transactioncurrencyid"].updatable = False
    tables["salesorder"].lookups["transactioncurrencyid"].update_note = (
        "UNCONFIRMED: not valid for update per Microsoft's salesorder table reference (a currency is chosen "
        "when the order is created); the shared reference does not state it"
    )
    return tables


def _customer_targets(field_path: str) -> dict[str, str] | None:
    """`customerid.Account(accountnumber).Contact(msdyn_contactpersonid)` -> the two customer targets."""
    match = re.fullmatch(r"(\w+)\.Account\(\w+\)\.Contact\(\w+\)", field_path)
    if not match:
        return None
    lookup = match.group(1)
    return {"account": f"{lookup}_account", "contact": f"{lookup}_contact"}


def _choice_options(transforms: list[dict[str, Any]]) -> tuple[str, dict[str, str]] | None:
    """A value map of integers is a choice; of True/False a Yes/No column. Returns (type, options)."""
    options: dict[str, str] = {}
    for transform in transforms:
        if transform.get("transformType") == "ValueMap":
            for label, value in transform.get("valueMap", {}).items():
                options.setdefault(str(value), str(label))
        elif transform.get("transformType") == "Default":
            options.setdefault(str(transform.get("defaultValue")), "(map default)")
    if not options:
        return None
    if set(options) <= {"True", "False"}:
        return "boolean", {}
    if all(re.fullmatch(r"\d+", v) for v in options):
        return "choice", dict(sorted(options.items(), key=lambda item: int(item[0])))
    return "string", {}


def _apply_maps(reference: Reference, tables: dict[str, TableSpec], notes: list[str]) -> None:
    """Add the columns and lookups every dual-write map names for a table we model."""
    for file_name, document in reference.maps():
        for leg in document["mapping"]["legs"]:
            table_name = ENTITY_SET_TABLES.get(leg["destinationSchema"])
            if table_name is None:
                continue
            table = tables[table_name]
            for mapping in leg["fieldMappings"]:
                field_path = mapping.get("destinationField") or ""
                if not field_path:
                    continue
                fact = Fact(f"dualwrite-maps/{file_name}", field_path)
                customer = _customer_targets(field_path)
                if customer:
                    lookup = field_path.split(".")[0]
                    if lookup not in table.lookups:
                        table.lookups[lookup] = LookupSpec(customer, fact)
                    continue
                if "." in field_path:
                    lookup, _, _target_column = field_path.partition(".")
                    target = ENTITY_SET_TABLES.get(mapping.get("destinationLookupFieldRelatedEntity") or "")
                    if target is None:
                        notes.append(
                            f"{table_name}.{lookup}: lookup target not modelled ({field_path}, {file_name})"
                        )
                    elif lookup not in table.lookups:
                        table.lookups[lookup] = LookupSpec({target: lookup}, fact)
                    continue
                inferred = _choice_options(mapping.get("valueTransforms") or [])
                existing = table.columns.get(field_path)
                if existing is None:
                    if inferred is None:
                        derived = DERIVED_COLUMNS.get(field_path)
                        if derived is None:
                            raise ReferenceMismatch(
                                f"{table_name}.{field_path} ({file_name}): no type in the reference and "
                                "none derived: add it to DERIVED_COLUMNS"
                            )
                        table.columns[field_path] = replace(derived, fact=fact)
                    else:
                        kind, options = inferred
                        table.columns[field_path] = ColumnSpec(kind, options=options or None, fact=fact)
                elif existing.type == "choice" and inferred and inferred[0] == "choice":
                    merged = dict(existing.options or {})
                    for value, label in inferred[1].items():
                        merged.setdefault(value, label)
                    existing.options = dict(sorted(merged.items(), key=lambda item: int(item[0])))


def _options_from_fact(fact: Fact) -> dict[str, str]:
    """Parse `3 = Customer` / `1 Competitor` / `192350000 = "Item based"` pairs out of a quoted fact."""
    pairs = re.findall(r"(\d{1,9})\s*=?\s*\"?([A-Z][\w\- ]*?)\"?(?=[,;)*]|\s+\d|\s*$|\.)", fact.quote)
    return {value: label.strip() for value, label in pairs}


def _state_pairs(text: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """`0 Draft (default status 1 In Progress), 1 Active (2 In Progress, 3 Open)` -> the state options, the
    status options and each status's state."""
    states: dict[str, str] = {}
    statuses: dict[str, str] = {}
    state_of: dict[str, str] = {}
    for code, label, inner in re.findall(r"(\d+) ([A-Z]\w*) \(([^)]*)\)", text):
        states[code] = label
        for status, status_label in re.findall(r"(\d+) ([A-Z][\w ]*?)(?=,|$)", inner):
            statuses[status] = status_label
            state_of[status] = code
    return states, statuses, state_of


def _state_columns(tables: dict[str, TableSpec]) -> None:
    """statecode and statuscode of the tables whose state decides what an update may do
    (record-state.md): both choices, each status reason tied to its state."""
    documented = {
        "quote": (F_QUOTE_STATES.quote, F_QUOTE_STATES, F_QUOTE_STATES),
        "salesorder": (F_ORDER_STATES.quote, F_ORDER_STATES, F_ORDER_STATES),
        "account": (STANDARD_CUSTOMER_STATES, STANDARD, F_CUSTOMER_STATUS),
        "contact": (STANDARD_CUSTOMER_STATES, STANDARD, F_CUSTOMER_STATUS),
    }
    for name, (text, state_fact, fact) in documented.items():
        states, statuses, state_of = _state_pairs(text)
        if not states or set(state_of.values()) != set(states):
            raise ReferenceMismatch(f"{name}: a state without its status reasons in {text!r}")
        tables[name].columns["statecode"] = ColumnSpec("choice", options=states, fact=state_fact)
        tables[name].columns["statuscode"] = ColumnSpec(
            "choice", options=statuses, fact=fact, state_of_status=state_of
        )


def build(reference: Reference) -> dict[str, Any]:
    tables = _base_tables()
    notes: list[str] = []
    _apply_maps(reference, tables, notes)
    _state_columns(tables)
    for choice_name, fact in (("customertypecode", F_CUSTOMERTYPE),):
        tables["account"].columns[choice_name].options = dict(
            sorted(_options_from_fact(fact).items(), key=lambda item: int(item[0]))
        )
    for name in ("salesorder", "quote"):
        merged = dict(tables[name].columns["msdyn_ordertype"].options or {})
        # a documented label replaces the placeholder a map's default value left
        merged.update(
            {
                k: v
                for k, v in _options_from_fact(F_ORDERTYPE).items()
                if merged.get(k, "(map default)") == "(map default)"
            }
        )
        tables[name].columns["msdyn_ordertype"].options = dict(
            sorted(merged.items(), key=lambda i: int(i[0]))
        )
    p2c_length = reference.p2c_max_length("account", "accountnumber")
    if p2c_length != tables["account"].columns["accountnumber"].max_length:
        raise ReferenceMismatch(
            f"{P2C_COLUMNS}: account.accountnumber is nvarchar({p2c_length}), schema says 20"
        )

    facts_used: list[Fact] = [
        F_DATE_MINIMUM,
        F_INVALID_CHARACTERS,
        F_P2C_INDEX,
        F_ACCOUNT_KEYNAME,
        F_COMPANY_READONLY,
        F_ENTITY_SETS,
    ]
    out_tables: dict[str, Any] = {}
    for name in sorted(tables):
        table = tables[name]
        facts_used += [table.fact, table.bulk_fact]
        columns: dict[str, Any] = {}
        for column_name in sorted(table.columns):
            column = table.columns[column_name]
            facts_used.append(column.fact)
            if column.type == "choice" and not column.options:
                raise ReferenceMismatch(f"{name}.{column_name}: a choice column without documented values")
            entry: dict[str, Any] = {"type": column.type}
            if column.type in ("string", "memo"):
                entry["max_length"] = column.max_length or (
                    DEFAULT_STRING_MAX if column.type == "string" else MEMO_DEFAULT_MAX
                )
                if column.max_length is None:
                    entry["max_length_note"] = (
                        NOTE_DEFAULT_LENGTH if column.type == "string" else NOTE_DEFAULT_MEMO
                    )
                entry["invalid_characters"] = F_INVALID_CHARACTERS.cite()
            if column.type in NUMERIC_RANGES:
                low, high = NUMERIC_RANGES[column.type]
                entry["minimum"] = low if column.minimum is None else column.minimum
                entry["maximum"] = high if column.maximum is None else column.maximum
            if column.type in ("datetime", "dateonly"):
                entry["minimum"] = DATE_MINIMUM
                entry["minimum_source"] = F_DATE_MINIMUM.cite()
            if column.options:
                entry["options"] = column.options
            if column.state_of_status:
                entry["state_of_status"] = column.state_of_status
            entry["valid_for_create"] = not column.read_only
            entry["valid_for_update"] = not column.read_only and column.updatable
            if column.unconfirmed:
                entry["unconfirmed"] = True
            entry["source"] = column.fact.cite() if column.fact.file else "standard Dataverse column"
            if column.note:
                entry["note"] = column.note
            columns[column_name] = entry
        lookups: dict[str, Any] = {}
        for lookup_name in sorted(table.lookups):
            lookup = table.lookups[lookup_name]
            facts_used.append(lookup.fact)
            entry = {
                "type": "lookup",
                "targets": dict(sorted(lookup.targets.items())),
                "valid_for_create": True,
                "valid_for_update": lookup.updatable,
                "source": lookup.fact.cite() if lookup.fact.file else "standard Dataverse lookup",
            }
            if lookup.note:
                entry["note"] = lookup.note
            if lookup.update_note:
                entry["update_note"] = lookup.update_note
                entry["unconfirmed"] = True
            lookups[lookup_name] = entry
        keys = []
        for key in table.keys:
            facts_used.append(key.fact)
            for attribute in key.attributes:
                if attribute not in table.columns and attribute not in table.lookups:
                    raise ReferenceMismatch(
                        f"{name} key {key.name}: {attribute} is not a column of the table"
                    )
            keys.append(
                {
                    "name": key.name,
                    "attributes": key.attributes,
                    "source": key.fact.cite(),
                    **({"note": key.note} if key.note else {}),
                }
            )
        out_tables[name] = {
            "entity_set": table.entity_set,
            "primary_key": table.primary_key,
            "primary_name": table.primary_name,
            "bulk_messages": table.bulk_messages,
            "bulk_messages_source": table.bulk_fact.cite(),
            "columns": columns,
            "lookups": lookups,
            "keys": keys,
            **({"note": table.note} if table.note else {}),
        }
    for fact in facts_used:
        reference.check(fact)
    referenced = sorted(
        {f.file for f in facts_used if f.file}
        | {P2C_COLUMNS}
        | {f"dualwrite-maps/{n}" for n, _ in reference.maps()}
    )
    return {
        "comment": "GENERATED by `python tools/emulator_schema_gen.py` from shared/reference: do not "
        "edit by hand.",
        "reference_sha256": reference.fingerprint(referenced),
        "options": {
            "p2c_account_number_index": {
                "default": False,
                "note": "simulate the P2C msdynce_AccountNumber index (account number unique across "
                "companies)",
                "source": F_P2C_INDEX.cite(),
            },
            "company_read_only": {
                "default": False,
                "note": "refuse changing msdyn_company once set; the UI does it, the API is UNCONFIRMED",
                "source": F_COMPANY_READONLY.cite(),
            },
        },
        "notes": [
            *sorted(set(notes)),
            "Alternate keys are enforced only when every key column has a value (Dataverse's key indexes "
            "skip nulls; derived), and string key values compare case-insensitively like Dataverse's "
            "collation.",
            "bulk_messages lists the tables whose sdkmessagefilters answer CreateMultiple/UpdateMultiple; "
            "account and contact take them too (record-state.md §6: the current table references list "
            "UpdateMultiple on all six tables, superseding the older Learn statement).",
        ],
        "tables": out_tables,
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        text = render(build(Reference(args.reference)))
    except (ReferenceMismatch, FileNotFoundError) as error:
        print(f"emulator_schema_gen: {error}", file=sys.stderr)
        return 2
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
