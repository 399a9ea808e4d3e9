"""The codes and identity rules of the uploader, in one place: the `p2c:` codes of failures and decisions the
tool itself makes (Dataverse's own codes are hex numbers like 0x80040217), the Dataverse codes it tells
apart, how a record exported without its id is found, and the scopes of a party number."""

from __future__ import annotations

from p2c.contract.dataverse import COMPANY_COLUMN

# -- decided by p2c (stored in upload.results.error_code and the plan's `code`) -----------------------------
NOT_IDENTIFIED = "p2c:not_identified"  # a row without a record id that no unique column finds
# a row without a record id whose --match columns several records have: never a guess (matching.py)
AMBIGUOUS_MATCH = "p2c:ambiguous_match"
# a row without a record id whose --match finds a record another row of the export also names: none is sent
MATCH_SHARED = "p2c:match_shared"
REFERENCE_MISSING = "p2c:reference_missing"  # a lookup value no (or more than one) record has
COMPANY_CONFLICT = "p2c:company_conflict"  # the record already belongs to another company
NOT_FOUND = "p2c:not_found"  # the record id is not in Dataverse
# the record changed since the plan (a failed If-Match ETag), or --match now finds another record
RECORD_CHANGED = "p2c:record_changed"
PLAN_ROW_CHANGED = "p2c:plan_row_changed"  # the row's values in DuckDB are not the plan's payload any more
# the row is an update now, but the applied plan had it unchanged, not found or refused: nobody reviewed it
PLAN_OUTDATED = "p2c:plan_outdated"
NOT_IN_PLAN = "p2c:not_in_plan"  # a target row the applied plan does not hold: skipped, still to do
KEY_CONFLICT = "p2c:key_conflict"  # another record already has the alternate key the update would give
PARTY_NUMBER_USED = "p2c:party_number_used"  # another record of the scope already has the party number
RECORD_READ_ONLY = "p2c:record_read_only"  # a quote/order (or its line) in a state the caller may not write
LOCKED_FIELD = "p2c:locked_field"  # written as an admin in a read-only state, but a value did not stick
# recorded as done by an earlier run, but Dataverse no longer holds those values: planned and sent again
DONE_BUT_DIFFERS = "p2c:done_but_differs"

# -- Dataverse error codes the uploader tells apart (dataverse-web-api.md §6.2) ------------------------------
CONCURRENCY_VERSION_MISMATCH = "0x80060882"  # 412: If-Match with an ETag that is no longer the record's
DUPLICATE_KEY_CODES = {
    "0x80060892": "DuplicateRecordEntityKey",  # 412: an alternate key another record has
    "0x80040237": "DuplicateRecord",  # 412: SQL integrity violation (a duplicate)
    "0x80040333": "DuplicateRecordsFound",  # 412/500: duplicate detection rule
}

# Refusals of read-only records: final per row, never retried (record-state.md §1.3, §1.4)
READ_ONLY_CODES = {
    "0x8004022e": "CannotUpdateBecauseItIsReadOnly",
    "0x80040265": "IsvAborted (a plug-in's refusal; final when its message says read only)",
    "0x80040230": "CannotUpdateObjectBecauseItIsInactive",
}

# -- how to find an existing record exported without its record id: model column -> Dataverse column ------
# Contacts have no column that is unique before initialization (the contact number was P2C's, and is gone):
# a contact without its record id is identified only by columns the user names (`--match`, matching.py),
# which replace these for their table. Lines: their order (by id) and sequence number.
IDENTITY_COLUMNS: dict[str, dict[str, str]] = {
    "account": {"accountnumber": "accountnumber"},
    "contact": {},
    "salesorder": {"msdyn_salesordernumber": "ordernumber"},
    "quote": {"msdyn_quotenumber": "quotenumber"},
    "salesorderdetail": {"salesorderid": "_salesorderid_value", "sequencenumber": "sequencenumber"},
    "quotedetail": {"quoteid": "_quoteid_value", "sequencenumber": "sequencenumber"},
}

# -- the party-number rule per table: the columns (besides the number) within which a number is unique ------
PARTY_NUMBER = "msdyn_partynumber"
PARTY_SCOPES: dict[str, tuple[str, ...]] = {
    "account": (COMPANY_COLUMN, "customertypecode"),
    "contact": (COMPANY_COLUMN,),
}
