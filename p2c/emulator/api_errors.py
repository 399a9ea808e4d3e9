"""Errors the emulated Web API answers with: an HTTP status and the `{"error":{"code","message"}}` body.

Codes and messages follow the reference (`dataverse-web-api.md` §2.2, §2.4, §3.2, §4.1 and §6.2)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refused request. `headers` carries e.g. Retry-After for a 429."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def payload_error(entity_set: str, inner: str) -> ApiError:
    """0x80048d19 ODataClientPayloadError, worded as the Web API words it."""
    return ApiError(
        400,
        "0x80048d19",
        f"Error identified in Payload provided by the user for Entity :'{entity_set}'  ---->  "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def undeclared_navigation(entity_set: str, name: str) -> ApiError:
    return payload_error(
        entity_set,
        f"An undeclared property '{name}' which only has property annotations in the payload but no property "
        "value was found in the payload. In OData, only declared navigation properties and declared named "
        "streams can be represented as properties without values.",
    )


def invalid_property(table: str, name: str) -> ApiError:
    return ApiError(
        400,
        "0x0",
        "An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
        f"Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{table}'.",
    )


def unknown_property(table: str, name: str) -> ApiError:
    return ApiError(
        400, "0x0", f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table}'."
    )


def not_found_by_id(table: str, record_id: str, code: str = "0x80040217") -> ApiError:
    return ApiError(404, code, f"{table} With Id = {record_id} Does Not Exist")


def not_found_by_key(table: str) -> ApiError:
    return ApiError(
        404, "0x80060891", f"A record with the specified key values does not exist in {table} entity"
    )


def query_error(message: str) -> ApiError:
    # The hex code of OData query parse errors is not in the reference: UNCONFIRMED
    # (0x80060888, as commonly seen in the field).
    return ApiError(400, "0x80060888", message)


def resource_not_found(segment: str) -> ApiError:
    return ApiError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")
