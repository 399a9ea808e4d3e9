"""The sample records: one coherent Dynamics 365 Sales dataset for the legal entities USMF and GBSI.

Every record is a dict of Dataverse logical name -> typed value (str, int choice value, date, datetime,
float). The writers decide how a value looks in a given export. Everything is deterministic in (seed, scale):
attributes other records refer to (names, numbers, GUIDs, product prices) are pure functions of the record's
index, and each order or quote draws from its own random stream, so the records are streamed entity by entity
with bounded memory and an invoice can re-derive the lines of its order.

Sizes per company (`scale` = N): N accounts (every 8th a prospect), N contacts (every 10th a person prospect),
N products, N orders with 1-7 lines each (about 4), invoices for 60% of the orders with the order's lines, and
N quote rows (every 5th quote has revisions 0, 1 and 2) with about 4 lines per revision.

Number sequences (customer and prospect sequences never overlap, as prospect integration requires):
customers `ACC-01000-BVRCPS` (P2C auto-number style; the same number exists in both companies, e.g. the second
customer of each company is `ACC-01001-...`), account prospects `PRS-00001`, contacts `CON-01000-...`, orders
`ORD-01000-...`, quotes `QUO-01000-...`, invoices `INV-01000-...` (the suffix is six letters drawn from the
seed).

Cases the pipeline must handle (all valid): orders whose customer is an account, and every 9th order a contact
(full name); requested-date fallbacks by order index k % 12: 0-6 Requested Delivery Date (with Date Submitted
and mostly Date Fulfilled), 7-8 only Date Fulfilled, 9-10 only Date Submitted, 11 no date at all; Ship To
Country/Region typed as an ISO code (`US`) or as a name (`United States`); quotes with several revisions
(earlier revisions Closed); contacts with Is Active Customer Yes and No, with a parent account by name and
number or none.

Deliberately bad rows (the pipeline must report each; everything else is consistent):
1. USMF account "Relecloud" has an empty Account Number (last row of the accounts export).
2. USMF accounts: two customers named "Northwind Traders" (different numbers), and the USMF order
   `ORD-0<1000+N>-...` (after the regular ones) has Customer "Northwind Traders": ambiguous.
3. GBSI order `ORD-0<1000+N>-...` has Customer "Wingtip Toys", which is no account or contact: unknown
   customer.
4. USMF order line (last row of the order products export) points at order `ORD-00999-XQZRWT`, which does not
   exist.
5. GBSI contact "Oskar Wikström" has an empty Contact Number.
6. GBSI contacts CSV: the contact "Greta Ragnarsson" is a ragged row with one field too many (a `;` typed into
   Business Phone, written unquoted).
The two bad orders have no lines and no invoice."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from p2c.sample.catalog import (
    ACCOUNT_NAMES,
    ACCOUNT_WITHOUT_NUMBER_NAME,
    AMBIGUOUS_ACCOUNT_NAME,
    BRANCHES,
    GBSI,
    ORDER_TOPICS,
    PRODUCT_VARIANTS,
    PRODUCTS,
    UNKNOWN_CUSTOMER_NAME,
    USMF,
    CompanyProfile,
)
from p2c.sample.formats import Record
from p2c.sample.status import QUOTE_REVISED, STATUS_TABLES, status_reason

# The moment the users pressed "Export to Excel": fixed, so files are byte-identical run after run.
EXPORT_TIME = dt.datetime(2026, 11, 25, 9, 38, 46)
FIRST_ORDER_DAY = dt.date(2025, 1, 6)

# Files whose records are drawn together: an order's lines and invoice come from the order's own draws.
FAMILIES: dict[str, tuple[str, ...]] = {
    "account": ("account",),
    "contact": ("contact",),
    "product": ("product",),
    "order": ("salesorder", "salesorderdetail", "invoice", "invoicedetail"),
    "quote": ("quote", "quotedetail"),
}
FAMILY_OF = {table: family for family, tables in FAMILIES.items() for table in tables}

# A record carrying this key is written with these extra, unexpected fields appended (a ragged CSV row).
EXTRA_FIELDS = "__extra_fields__"

MISSING_ORDER_NUMBER = "ORD-00999-XQZRWT"

# Stream identifiers mixed into every hash, so two entities never draw the same numbers.
_T: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "account",
            "contact",
            "salesorder",
            "salesorderdetail",
            "quote",
            "quotedetail",
            "invoice",
            "invoicedetail",
            "product",
            "customer_number",
            "contact_number",
        ),
        start=1,
    )
}

_MASK = (1 << 64) - 1
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I/O: auto-number suffixes avoid them


def mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): cheap, stable across Python versions and processes."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return h


def guid(*parts: int) -> str:
    """A version-4-shaped GUID, lowercase like Dynamics writes it, derived from the parts."""
    high = mix(*parts)
    # The low half: one more splitmix64 step of the high half (a second full mix costs as much again).
    low = ((high ^ (high >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    low = ((low ^ (low >> 27)) * 0x94D049BB133111EB) & _MASK
    text = f"{high:016x}{low ^ (low >> 31):016x}"
    return (
        f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{'89ab'[int(text[16], 16) & 3]}{text[17:20]}-{text[20:32]}"
    )


def letters(value: int, count: int = 6) -> str:
    out = []
    for _ in range(count):
        value, digit = divmod(value, len(_LETTERS))
        out.append(_LETTERS[digit])
    return "".join(out)


def row_checksum(record_id: str, modified_on: dt.datetime) -> str:
    """What the hidden Row Checksum column holds: an opaque base64 token that changes with the record."""
    digest = hashlib.blake2b(f"{record_id}|{modified_on.isoformat()}".encode(), digest_size=18).digest()
    return base64.b64encode(digest).decode("ascii")


_FOLD = str.maketrans("åäöéÅÄÖÉ", "aaoeAAOE")


def _ascii(text: str) -> str:
    """Letters and digits only, for e-mail addresses."""
    return re.sub(r"[^a-z0-9]", "", text.translate(_FOLD).lower())


@dataclass(frozen=True)
class Customer:
    table: str  # account | contact
    index: int
    name: str
    record_id: str


@dataclass(frozen=True)
class ProductRef:
    number: str
    name: str
    unit: str
    product_type: int
    list_price: float


class CompanyData:
    """All records of one legal entity. Methods named after an entity stream its records in file order.

    Companies are told apart by code, never by identity: instances are pickled into worker processes."""

    def __init__(self, profile: CompanyProfile, seed: int, scale: int) -> None:
        self.profile = profile
        self.seed = seed
        self.scale = scale

    # --- pure per-index attributes (other records refer to them) ---

    def _key(self, table: str, *parts: int) -> int:
        return mix(self.seed, self.profile.number, _T[table], *parts)

    def record_id(self, table: str, *parts: int) -> str:
        return guid(self.seed, self.profile.number, _T[table], *parts)

    @staticmethod
    def is_prospect_account(index: int) -> bool:
        return index % 8 == 7

    def account_name(self, index: int) -> str:
        count = len(ACCOUNT_NAMES)
        base = ACCOUNT_NAMES[(index + self.profile.name_offset) % count]
        variant = index // count
        if variant == 0:
            return base
        branch = BRANCHES[(variant - 1) % len(BRANCHES)]
        round_ = (variant - 1) // len(BRANCHES)
        return f"{base} ({branch})" if round_ == 0 else f"{base} ({branch} {round_ + 1})"

    def customer_number(self, sequence: int) -> str:
        # The suffix depends on the sequence number only: the same customer number exists in both companies.
        return f"ACC-{1000 + sequence:05d}-{letters(mix(self.seed, _T['customer_number'], sequence))}"

    def account_number(self, index: int) -> str:
        if self.is_prospect_account(index):
            return f"PRS-{index // 8 + 1:05d}"
        return self.customer_number(index - (index + 1) // 8)

    def account(self, index: int) -> Customer:
        return Customer("account", index, self.account_name(index), self.record_id("account", index))

    def contact_parts(self, index: int) -> tuple[str, str, str]:
        """(first name, last name, full name), unique within the company."""
        firsts, lasts = self.profile.first_names, self.profile.last_names
        first = firsts[index % len(firsts)]
        # Shift the last name with the first one so neighbours differ; (first, last) pairs stay unique.
        last = lasts[(index // len(firsts) + 3 * (index % len(firsts))) % len(lasts)]
        variant = index // (len(firsts) * len(lasts))
        if variant:
            # Past the rotation: a middle initial, then a running number, keep full names unique.
            initial = chr(ord("A") + (variant - 1) % 26)
            round_ = (variant - 1) // 26
            last = last if round_ == 0 else f"{last} {round_ + 1}"
            return first, last, f"{first} {initial}. {last}"
        return first, last, f"{first} {last}"

    def contact_number(self, index: int) -> str:
        return f"CON-{1000 + index:05d}-{letters(self._key('contact_number', index))}"

    def contact(self, index: int) -> Customer:
        return Customer("contact", index, self.contact_parts(index)[2], self.record_id("contact", index))

    @staticmethod
    def is_person_prospect(index: int) -> bool:
        return index % 10 == 9

    def contact_parent(self, index: int) -> int | None:
        """Contact k works for account k (cheap to invert: account k's primary contact is contact k)."""
        if self.is_person_prospect(index) or index % 4 == 3 or index >= self.scale:
            return None
        return index

    def product(self, index: int) -> ProductRef:
        item = PRODUCTS[index % len(PRODUCTS)]
        variant = index // len(PRODUCTS)
        name = item.name
        if variant:
            colour = PRODUCT_VARIANTS[(variant - 1) % len(PRODUCT_VARIANTS)]
            round_ = (variant - 1) // len(PRODUCT_VARIANTS)
            name = f"{name}, {colour}" if round_ == 0 else f"{name}, {colour} Mk {round_ + 1}"
        price = round(item.list_price * (1 + (variant % 5) * 0.05), 2)
        return ProductRef(f"{item.prefix}{index + 1:04d}", name, item.unit, item.product_type, price)

    def order_number(self, index: int) -> str:
        return f"ORD-{1000 + index:05d}-{letters(self._key('salesorder', index, 7))}"

    def quote_number(self, index: int) -> str:
        return f"QUO-{1000 + index:05d}-{letters(self._key('quote', index, 7))}"

    def invoice_number(self, index: int) -> str:
        return f"INV-{1000 + index:05d}-{letters(self._key('invoice', index, 7))}"

    @staticmethod
    def is_invoiced(order_index: int) -> bool:
        return order_index % 12 < 9 and order_index % 4 != 3

    def _modified(self, rng: random.Random, not_before: dt.date | None = None) -> dt.datetime:
        start = (
            dt.datetime.combine(not_before, dt.time(8))
            if not_before
            else EXPORT_TIME - dt.timedelta(days=700)
        )
        span = max(int((EXPORT_TIME - start).total_seconds()), 60)
        return start + dt.timedelta(seconds=rng.randrange(span))

    def _stamp(self, record: Record, id_column: str, record_id: str, modified_on: dt.datetime) -> Record:
        """The three hidden columns every export starts with (and the status reason next to the state)."""
        table = id_column.removesuffix("id")
        state = record.get("statecode")
        if table in STATUS_TABLES and isinstance(state, int):
            # a status reason of the record's state, chosen by its id (deterministic for a seed)
            pick = int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16)
            record.setdefault("statuscode", status_reason(table, state, pick))
        record[id_column] = record_id
        record["rowchecksum"] = row_checksum(record_id, modified_on)
        record["modifiedon"] = modified_on
        return record

    # --- accounts ---

    def accounts(self) -> Iterator[Record]:
        rng = random.Random(self._key("account"))
        for index in range(self.scale):
            yield self._account_record(index, rng, self.account_name(index), self.account_number(index))
        if self.profile.code == USMF.code:
            # Bad rows 1 and 2: two customers with the same name, one account without a number.
            first_free = self.scale  # customer sequence numbers above any regular one
            for offset in range(2):
                yield self._account_record(
                    self.scale + offset,
                    rng,
                    AMBIGUOUS_ACCOUNT_NAME,
                    self.customer_number(first_free + offset),
                )
            yield self._account_record(self.scale + 2, rng, ACCOUNT_WITHOUT_NUMBER_NAME, None)

    def _account_record(self, index: int, rng: random.Random, name: str, number: str | None) -> Record:
        profile = self.profile
        city, postal = profile.cities[rng.randrange(len(profile.cities))]
        street = profile.streets[rng.randrange(len(profile.streets))]
        if index % 11 == 4:
            # A two-line street address: a quoted field with an embedded newline in CSV.
            street = f"c/o Accounts Payable\n{street}"
        parent = self.contact_parent(index)
        prospect = index < self.scale and self.is_prospect_account(index)
        record: Record = {
            "name": name,
            "accountnumber": number,
            "customertypecode": 8 if prospect else 3,
            "primarycontactid": self.contact_parts(index)[2] if parent is not None else None,
            "telephone1": f"{profile.phone_prefix} {rng.randrange(10000):04d}",
            "emailaddress1": f"info@{_ascii(name.split(' (')[0])[:20]}.example.com",
            "address1_line1": street,
            "address1_city": city,
            "address1_postalcode": postal,
            "address1_country": profile.country_name,
            "creditlimit": None
            if prospect
            else float(rng.choice((5000, 10000, 25000, 50000, 100000, 250000))),
            "transactioncurrencyid": profile.currency,
            "statecode": 1 if index % 29 == 28 else 0,
        }
        return self._stamp(record, "accountid", self.record_id("account", index), self._modified(rng))

    # --- contacts ---

    @property
    def contact_sheet_split(self) -> int:
        """Contacts from this index on are inactive (the USMF workbook has them on a second sheet)."""
        return self.scale - self.scale // 4

    def contacts(self) -> Iterator[Record]:
        rng = random.Random(self._key("contact"))
        for index in range(self.scale):
            yield self._contact_record(index, rng)
        if self.profile.code == GBSI.code:
            # Bad row 5: an empty Contact Number.
            record = self._contact_record(self.scale, rng, ("Oskar", "Wikström"))
            record["msdynce_contactnumber"] = None
            yield record
            # Bad row 6: "; ankn. 12" typed into the phone number and written unquoted -> one field too many.
            record = self._contact_record(self.scale + 1, rng, ("Greta", "Ragnarsson"))
            record["telephone1"] = "08-123 45 67"
            record[EXTRA_FIELDS] = ["ankn. 12"]
            yield record

    def _contact_record(self, index: int, rng: random.Random, name: tuple[str, str] | None = None) -> Record:
        if name:
            first, last = name
            full = f"{first} {last}"
        else:
            first, last, full = self.contact_parts(index)
        parent = self.contact_parent(index)
        person_prospect = self.is_person_prospect(index)
        if person_prospect or (parent is not None and self.is_prospect_account(parent)):
            active_customer = 0
        else:
            active_customer = 1 if rng.random() < 0.7 else 0
        record: Record = {
            "fullname": full,
            "firstname": first,
            "lastname": last,
            "msdynce_contactnumber": self.contact_number(index),
            "parentcustomerid": self.account_name(parent) if parent is not None else None,
            "parentcustomerid__accountnumber": self.account_number(parent) if parent is not None else None,
            "msdynce_isactivecustomer": active_customer,
            "msdyn_isprospect": 1 if person_prospect else 0,
            "msdynce_iscompanyanaccount": 1 if parent is not None else 0,
            "emailaddress1": f"{_ascii(first)}.{_ascii(last)}@example.com",
            "telephone1": f"{self.profile.phone_prefix} {rng.randrange(10000):04d}",
            "statecode": 1 if self.contact_sheet_split <= index < self.scale else 0,
        }
        return self._stamp(record, "contactid", self.record_id("contact", index), self._modified(rng))

    # --- products ---

    def products(self) -> Iterator[Record]:
        rng = random.Random(self._key("product"))
        for index in range(self.scale):
            product = self.product(index)
            record: Record = {
                "productnumber": product.number,
                "name": product.name,
                "defaultuomid": product.unit,
                "price": product.list_price,
                "producttypecode": product.product_type,
                "msdynce_ismaintainedexternally": 1,  # products come from the finance and operations app
                "statecode": 0,
            }
            yield self._stamp(record, "productid", self.record_id("product", index), self._modified(rng))

    # --- orders, order lines, invoices, invoice lines ---

    def _order_customer(self, index: int, rng: random.Random) -> Customer:
        if index % 9 == 4:
            contact = rng.randrange(self.scale)
            return self.contact(contact - 1 if self.is_person_prospect(contact) else contact)
        account = rng.randrange(self.scale)
        return self.account(account - 1 if self.is_prospect_account(account) else account)

    def _lines(self, rng: random.Random, first_day: dt.date) -> list[Record]:
        lines = []
        for sequence in range(1, 2 + rng.randrange(7)):
            product = self.product(rng.randrange(self.scale))
            if product.unit == "hr":
                quantity = rng.choice((0.5, 1.0, 1.5, 2.0, 4.0, 8.0))
            else:
                quantity = float(rng.randint(1, 24))
            price = product.list_price if rng.random() < 0.8 else round(product.list_price * 0.95, 2)
            lines.append(
                {
                    "sequencenumber": sequence,
                    "productid": product.name,
                    "productid__productnumber": product.number,
                    "uomid": product.unit,
                    "quantity": quantity,
                    "priceperunit": price,
                    "extendedamount": round(quantity * price, 2),
                    "msdynce_ismisctax": 0,
                    "modifiedon": self._modified(rng, first_day),
                }
            )
        return lines

    def order(self, index: int) -> tuple[Record, list[Record]]:
        """Order `index` with its lines: the same every time, so invoices can re-derive them."""
        rng = random.Random(self._key("salesorder", index))
        customer = self._order_customer(index, rng)
        submitted = FIRST_ORDER_DAY + dt.timedelta(days=rng.randrange(650))
        requested = submitted + dt.timedelta(days=rng.randint(7, 30))
        fulfilled = requested + dt.timedelta(days=rng.randint(0, 5))
        pattern = index % 12
        dates: tuple[dt.date | None, dt.date | None, dt.date | None]
        if pattern <= 6:  # the usual case: requested date set (and Date Fulfilled unless still open)
            dates = (submitted, requested, fulfilled if pattern != 6 else None)
        elif pattern <= 8:
            dates = (None, None, fulfilled)
        elif pattern <= 10:
            dates = (submitted, None, None)
        else:
            dates = (None, None, None)
        codes = self.profile.country_codes
        ship_to = codes[1] if index % 3 == 0 else codes[0]
        if self.profile.code == GBSI.code and index % 7 == 5:
            ship_to = "US" if index % 2 else "United States"  # export orders
        lines = self._lines(rng, submitted)
        if self.is_invoiced(index):
            state, processing = 4, 647390003  # Invoiced
        elif dates[2]:
            state, processing = 3, 647390007  # Fulfilled / Shipped
        elif dates[0]:
            state, processing = 1, 647390001  # Submitted / Confirmed
        else:
            state, processing = 0, 647390000  # Active
        header: Record = {
            "ordernumber": self.order_number(index),
            "name": f"{ORDER_TOPICS[rng.randrange(len(ORDER_TOPICS))]} – {customer.name}",
            "customerid": customer.name,
            "pricelevelid": self.profile.price_list,
            "transactioncurrencyid": self.profile.currency,
            "submitdate": dates[0],
            "requestdeliveryby": dates[1],
            "datefulfilled": dates[2],
            "shipto_country": ship_to,
            "totalamount": round(sum(float(str(line["extendedamount"])) for line in lines), 2),
            "statecode": state,
            "msdynce_processingstatus": processing,
            "msdynce_ismaintainedexternally": 0,
            "msdynce_hasexternallymaintainedproductsonly": 0,
        }
        order_id = self.record_id("salesorder", index)
        self._stamp(header, "salesorderid", order_id, self._modified(rng, submitted))
        for line_number, line in enumerate(lines):
            line["salesorderid"] = header["name"]
            line["salesorderid__ordernumber"] = header["ordernumber"]
            line["msdynce_orderissubmitted"] = 1 if state else 0
            line_id = self.record_id("salesorderdetail", index, line_number)
            self._stamp(line, "salesorderdetailid", line_id, line["modifiedon"])  # type: ignore[arg-type]
        return header, lines

    def _bad_orders(self) -> Iterator[Record]:
        """Bad rows 2 and 3: an order with an ambiguous (USMF) or unknown (GBSI) customer, no lines."""
        name = AMBIGUOUS_ACCOUNT_NAME if self.profile.code == USMF.code else UNKNOWN_CUSTOMER_NAME
        index = self.scale
        rng = random.Random(self._key("salesorder", index))
        submitted = FIRST_ORDER_DAY + dt.timedelta(days=rng.randrange(650))
        header: Record = {
            "ordernumber": self.order_number(index),
            "name": f"Trade show – {name}",
            "customerid": name,
            "pricelevelid": self.profile.price_list,
            "transactioncurrencyid": self.profile.currency,
            "submitdate": submitted,
            "requestdeliveryby": submitted + dt.timedelta(days=14),
            "shipto_country": self.profile.country_codes[0],
            "totalamount": 0.0,
            "statecode": 1,
            "msdynce_processingstatus": 647390001,
            "msdynce_ismaintainedexternally": 0,
            "msdynce_hasexternallymaintainedproductsonly": 0,
        }
        yield self._stamp(
            header, "salesorderid", self.record_id("salesorder", index), self._modified(rng, submitted)
        )

    def order_family(self, with_invoices: bool = True) -> Iterator[tuple[str, Record]]:
        """(table, record) for orders, order lines, invoices and invoice lines, each table in file order.

        One pass: an order and its lines are drawn once and feed all four files."""
        for index in range(self.scale):
            header, lines = self.order(index)
            yield "salesorder", header
            for line in lines:
                yield "salesorderdetail", line
            if with_invoices and self.is_invoiced(index):
                invoice, invoice_lines = self._invoice(index, header, lines)
                yield "invoice", invoice
                for line in invoice_lines:
                    yield "invoicedetail", line
        for header in self._bad_orders():
            yield "salesorder", header
        if self.profile.code == USMF.code:
            # Bad row 4: a line whose order does not exist.
            rng = random.Random(self._key("salesorderdetail", self.scale))
            line = self._lines(rng, FIRST_ORDER_DAY)[0]
            line.update(
                {
                    "salesorderid": "Replacement parts – Fourth Coffee",
                    "salesorderid__ordernumber": MISSING_ORDER_NUMBER,
                    "msdynce_orderissubmitted": 1,
                }
            )
            line_id = self.record_id("salesorderdetail", self.scale, 0)
            self._stamp(line, "salesorderdetailid", line_id, line["modifiedon"])  # type: ignore[arg-type]
            yield "salesorderdetail", line

    def _invoice(self, index: int, order: Record, order_lines: list[Record]) -> tuple[Record, list[Record]]:
        """The invoice of order `index` (its lines are the order's lines)."""
        rng = random.Random(self._key("invoice", index))
        shipped = order["datefulfilled"] or order["requestdeliveryby"] or order["submitdate"]
        assert isinstance(shipped, dt.date)  # every order has at least its submit date
        invoice_date = shipped + dt.timedelta(days=rng.randint(0, 3))
        number = self.invoice_number(index)
        name = f"{number} {order['customerid']}"
        header: Record = {
            "invoicenumber": number,
            "name": name,
            "customerid": order["customerid"],
            "salesorderid": order["name"],
            "salesorderid__ordernumber": order["ordernumber"],
            "msdynce_invoicedate": invoice_date,
            "totalamount": order["totalamount"],
            "transactioncurrencyid": order["transactioncurrencyid"],
            "statecode": 2 if rng.random() < 0.6 else 0,  # Paid or Active
            "msdynce_ismaintainedexternally": 1,  # invoices come from the finance and operations app
        }
        modified = self._modified(rng, invoice_date)
        self._stamp(header, "invoiceid", self.record_id("invoice", index), modified)
        lines = []
        for line_number, order_line in enumerate(order_lines):
            line: Record = {
                key: order_line[key]
                for key in (
                    "productid",
                    "productid__productnumber",
                    "uomid",
                    "quantity",
                    "priceperunit",
                    "extendedamount",
                    "msdynce_ismisctax",
                )
            }
            line.update(
                {"invoiceid": name, "invoiceid__invoicenumber": number, "msdynce_invoicedate": invoice_date}
            )
            lines.append(
                self._stamp(
                    line, "invoicedetailid", self.record_id("invoicedetail", index, line_number), modified
                )
            )
        return header, lines

    # --- quotes and quote lines ---

    def _quote_customer(self, index: int, rng: random.Random) -> Customer:
        # Quotes may go to prospects (accounts of type Prospect, contacts with Is Prospect = Yes).
        if index % 7 == 3:
            return self.contact(rng.randrange(self.scale))
        return self.account(rng.randrange(self.scale))

    def quote_revisions(self) -> Iterator[tuple[Record, list[Record]]]:
        """N quote rows: quote q has revisions 0, 1, 2 when q % 5 == 1, else only revision 0."""
        emitted = 0
        quote = 0
        while emitted < self.scale:
            rng = random.Random(self._key("quote", quote))
            customer = self._quote_customer(quote, rng)
            topic = ORDER_TOPICS[rng.randrange(len(ORDER_TOPICS))]
            effective = FIRST_ORDER_DAY + dt.timedelta(days=rng.randrange(650))
            revisions = 3 if quote % 5 == 1 else 1
            final_state = rng.choice((0, 1, 1, 2, 2, 3))  # Draft, Active, Won, Closed
            codes = self.profile.country_codes
            for revision in range(revisions):
                if emitted == self.scale:
                    break
                yield self._quote_revision(
                    quote, revision, revisions, customer, topic, effective, final_state, codes
                )
                emitted += 1
            quote += 1

    def _quote_revision(
        self,
        quote: int,
        revision: int,
        revisions: int,
        customer: Customer,
        topic: str,
        effective: dt.date,
        final_state: int,
        codes: tuple[str, str],
    ) -> tuple[Record, list[Record]]:
        rng = random.Random(self._key("quote", quote, revision + 1))
        effective = effective + dt.timedelta(days=7 * revision)
        latest = revision == revisions - 1
        state = final_state if latest else 3  # a revised quote is closed
        lines = self._lines(rng, effective)
        number = self.quote_number(quote)
        name = f"{topic} – {customer.name}"
        header: Record = {
            "msdyn_company": self.profile.code,
            "quotenumber": number,
            "revisionnumber": revision,
            "name": name,
            "customerid": customer.name,
            "_customerid_value": customer.record_id,
            "pricelevelid": self.profile.price_list,
            "transactioncurrencyid": self.profile.currency,
            "effectivefrom": effective,
            "requestdeliveryby": effective + dt.timedelta(days=30) if quote % 4 != 2 else None,
            "closedon": effective + dt.timedelta(days=rng.randint(1, 6)) if state in (2, 3) else None,
            "shipto_country": codes[1] if quote % 3 == 0 else codes[0],
            "totalamount": round(sum(float(str(line["extendedamount"])) for line in lines), 2),
            "statecode": state,
            **({} if latest else {"statuscode": QUOTE_REVISED}),  # superseded: Closed as Revised
            "msdynce_ismaintainedexternally": 0,
            "msdynce_hasexternallymaintainedproductsonly": 0,
        }
        self._stamp(
            header, "quoteid", self.record_id("quote", quote, revision), self._modified(rng, effective)
        )
        for line_number, line in enumerate(lines):
            line.update(
                {
                    "msdyn_company": self.profile.code,
                    "quoteid": name,
                    "quoteid__quotenumber": number,
                    "quoteid__revisionnumber": revision,
                    "msdynce_quoterevisionnumber": revision,
                    "msdynce_ismaintainedexternally": 0,
                }
            )
            line_id = self.record_id("quotedetail", quote, revision, line_number)
            self._stamp(line, "quotedetailid", line_id, line["modifiedon"])  # type: ignore[arg-type]
        return header, lines

    def quote_family(self) -> Iterator[tuple[str, Record]]:
        for header, lines in self.quote_revisions():
            yield "quote", header
            for line in lines:
                yield "quotedetail", line

    def stream(self, family: str, tables: Collection[str] | None = None) -> Iterator[tuple[str, Record]]:
        """(table, record) pairs of one family of files (see FAMILIES), each table in file order."""
        match family:
            case "account":
                return (("account", record) for record in self.accounts())
            case "contact":
                return (("contact", record) for record in self.contacts())
            case "product":
                return (("product", record) for record in self.products())
            case "order":
                with_invoices = tables is None or bool({"invoice", "invoicedetail"} & set(tables))
                return self.order_family(with_invoices)
            case "quote":
                return self.quote_family()
        raise ValueError(f"unknown family {family!r}")

    def records(self, table: str) -> Iterator[Record]:
        """The records of one entity, in file order."""
        return (record for name, record in self.stream(FAMILY_OF[table], (table,)) if name == table)


def companies(seed: int, scale: int) -> tuple[CompanyData, CompanyData]:
    return CompanyData(USMF, seed, scale), CompanyData(GBSI, seed, scale)
