"""What Dataverse refuses about a request before any work: its query options, the alternate-key values in its
URL, and the bypass headers a caller without the privilege sends. Each refusal names its source; where the
reference gives no code, the choice is listed in docs/emulator.md (UNCONFIRMED)."""

from __future__ import annotations

from collections.abc import Mapping, Set

from p2c.emulator.api_errors import ApiError, query_error
from p2c.emulator.records import KeyRef

# Query options outside `$` that Dataverse documents: parameter aliases (`@p`), and `tag` and `partitionid`
# (every other optional parameter is a header, dataverse-web-api.md §5).
ALWAYS_ALLOWED = frozenset({"tag", "partitionid"})
# Options the service answers but this emulator does not: refused by name rather than ignored (ignoring
# `fetchXml` would answer every row of the table).
NOT_SERVED = frozenset(
    {"fetchXml", "savedQuery", "userQuery", "sql", "$expand", "$apply", "$skip", "$search"}
)
# "If the data within a column used in an alternate key contains one of the following characters
# /,<,>,*,%,&,:,\\,?,+ then retrieve (GET), update, or upsert (PATCH) actions don't work" (§2.3).
KEY_URL_FORBIDDEN = frozenset("/<>*%&:\\?+")
BYPASS_BUSINESS_LOGIC = "mscrm.bypassbusinesslogicexecution"
BYPASS_CUSTOM_PLUGINS = "mscrm.bypasscustompluginexecution"
BYPASS_VALUES = frozenset({"CustomSync", "CustomAsync"})
# §5: the privileges (and ids) the two bypass headers need; only System Administrator has them by default
PRIVILEGES = {
    BYPASS_BUSINESS_LOGIC: ("prvBypassCustomBusinessLogic", "0ea552b0-a491-4470-9a1b-82068deccf66"),
    BYPASS_CUSTOM_PLUGINS: ("prvBypassCustomPlugins", "148a9eaf-d0c4-4196-9852-c3a38e35f6a1"),
}
# The code of a header value the service does not take: the reference gives none (UNCONFIRMED).
INVALID_ARGUMENT = "0x80040203"


def check_query_options(query: Mapping[str, str], allowed: Set[str]) -> None:
    """Refuse (400) every query option the resource does not take; `$count` must be true or false."""
    for name in query:
        if name.startswith("@") or name in ALWAYS_ALLOWED or name in allowed:
            continue
        if name in NOT_SERVED:
            raise query_error(f"The query option '{name}' is not supported by this emulator.")
        raise query_error(f"The query parameter '{name}' is not supported.")
    if "$count" in query and query["$count"] not in ("true", "false"):
        raise query_error(f"Invalid value '{query['$count']}' for $count query option found.")


def check_key_url(ref: KeyRef) -> None:
    """An alternate-key URL whose value holds a character the service cannot route (§2.3)."""
    for name, value in ref.values:
        if isinstance(value, str) and KEY_URL_FORBIDDEN.intersection(value):
            found = "".join(sorted(KEY_URL_FORBIDDEN.intersection(value)))
            raise ApiError(
                400,
                "0x80060888",
                f"The alternate key value of '{name}' contains {found!r}: retrieve, update and upsert by an "
                "alternate key do not work when its value holds any of / < > * % & : \\ ? +. Find the record "
                "with $filter and address it by its id.",
            )


def check_bypass_headers(headers: Mapping[str, str], is_admin: bool) -> None:
    """MSCRM.BypassBusinessLogicExecution and MSCRM.BypassCustomPluginExecution need their privilege (403
    PrivilegeDenied); MSCRM.SuppressCallbackRegistrationExpanderJob needs none (§5)."""
    needed: list[str] = []
    business = headers.get(BYPASS_BUSINESS_LOGIC)
    if business is not None:
        values = {v.strip() for v in business.split(",")}
        if not values <= BYPASS_VALUES:
            raise ApiError(
                400,
                INVALID_ARGUMENT,
                f"The value '{business}' of MSCRM.BypassBusinessLogicExecution is not valid: use CustomSync, "
                "CustomAsync or CustomSync,CustomAsync.",
            )
        needed.append(BYPASS_BUSINESS_LOGIC)
    plugins = headers.get(BYPASS_CUSTOM_PLUGINS)
    if plugins is not None:
        if plugins.strip().lower() not in ("true", "false"):
            raise ApiError(
                400,
                INVALID_ARGUMENT,
                f"The value '{plugins}' of MSCRM.BypassCustomPluginExecution is not valid.",
            )
        if plugins.strip().lower() == "true":
            needed.append(BYPASS_CUSTOM_PLUGINS)
    if needed and not is_admin:
        privilege, privilege_id = PRIVILEGES[needed[0]]
        raise ApiError(
            403,
            "0x80040220",
            f"The user does not hold the necessary privileges: missing {privilege} privilege "
            f"(Id={privilege_id}), which the System Administrator role holds.",
        )
