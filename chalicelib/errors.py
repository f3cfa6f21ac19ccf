"""Errors that map to a JSON response ``{"error": ..., "error_description": ...}``.

Domain code raises these; ``chalicelib.api.errors`` turns them into HTTP responses.
"""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status_code = 400
    error = "bad_request"

    def __init__(self, description: str, *, field: str | None = None, **extra: Any) -> None:
        if field is not None and field not in description:
            description = f"{field}: {description}"
        super().__init__(description)
        self.description = description
        self.field = field
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidJson(ApiError):
    status_code = 400
    error = "invalid_json"


class ValidationFailed(ApiError):
    status_code = 422
    error = "validation_error"


class NotFound(ApiError):
    status_code = 404
    error = "not_found"


class Conflict(ApiError):
    status_code = 409
    error = "conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "payload_too_large"


class Unauthenticated(ApiError):
    status_code = 401
    error = "unauthorized"
