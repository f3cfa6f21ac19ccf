"""Domain errors: what went wrong, in words a caller can act on, with no HTTP in them.

Domain code raises these; ``chalicelib.api.errors`` maps each kind to an HTTP status and the JSON body
``{"error": ..., "error_description": ...}``. ``code`` is the stable machine-readable name of the error.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "bad_request"

    def __init__(self, description: str, *, field: str | None = None, **extra: Any) -> None:
        if field is not None and field not in description:
            description = f"{field}: {description}"
        super().__init__(description)
        self.description = description
        self.field = field
        self.extra = extra


class ValidationFailed(DomainError):
    """The input is well-formed but not acceptable."""

    code = "validation_error"


class NotSupported(ValidationFailed):
    """A valid setting that this deployment does not honour (yet); refused rather than silently ignored."""

    code = "not_supported"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The resource is not in a state that allows the operation."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller proved no right to the operation (e.g. a forged carrier signature)."""

    code = "forbidden"


class Unauthenticated(DomainError):
    """No credential, or one that is not valid (for routes that authenticate the caller themselves)."""

    code = "unauthorized"


class Unavailable(DomainError):
    """The operation is not available in this deployment (not configured) or not right now."""

    code = "unavailable"


class RateLimited(DomainError):
    """Too many operations of this kind for the account; ``retry_after`` seconds until the next is allowed."""

    code = "rate_limited"

    def __init__(self, description: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(description, **extra)
        self.retry_after = max(1, int(retry_after))
