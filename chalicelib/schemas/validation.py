"""A pydantic ``ValidationError`` in Parley's words: the first error as ``ValidationFailed`` naming its field.

The REST routes (``chalicelib.api.routing``) and the MCP tools (``chalicelib.mcp_server``) validate the same
schemas with this, so a bad field reads the same through either.
"""
from __future__ import annotations

from pydantic import ValidationError

from chalicelib.domain.errors import ValidationFailed


def describe_validation_error(error: ValidationError, prefix: str = "") -> ValidationFailed:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"] if part != "__root__")
    name = prefix + location if location else (prefix.rstrip(".") or "body")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "field required"
    return ValidationFailed(f"{name}: {message}", field=name)
