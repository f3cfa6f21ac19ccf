"""HTTP mapping of errors: a status code per domain error kind, and the request-level errors of the API.

Domain code never names a status; this table does. Bodies are ``{"error", "error_description"}`` plus
``field`` when one input is at fault.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)


class InvalidJson(DomainError):
    """The request body is not the JSON (or form) it must be."""

    code = "invalid_json"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


STATUS: dict[type[DomainError], int] = {
    InvalidJson: 400,
    PayloadTooLarge: 413,
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    RateLimited: 429,
    Unauthenticated: 401,
    Unavailable: 503,
    DomainError: 400,
}


def status_for(error: DomainError) -> int:
    """The status of the most specific mapped class the error is an instance of."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.code, "error_description": error.description}
    if error.field is not None:
        body["field"] = error.field
    body.update(error.extra)
    return body


def error_headers(error: DomainError) -> dict[str, str]:
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after)}
    return {}
