"""Graph API errors as Meta answers them: ``{"error": {"message", "type", "code", "error_subcode"?,
"error_data"?, "fbtrace_id"}}`` with the HTTP status Graph uses."""
from __future__ import annotations

import secrets
from typing import Any

INVALID_PARAMETER = 100
INVALID_TOKEN = 190
NO_CALL_PERMISSION = 138006


class GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, *, type_: str = "OAuthException",
                 subcode: int | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.subcode = subcode
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        return {"error": error}


def invalid_token() -> GraphError:
    return GraphError(401, INVALID_TOKEN, "Invalid OAuth access token - Cannot parse access token")


def unknown_object(object_id: str) -> GraphError:
    return GraphError(400, INVALID_PARAMETER,
                      f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due "
                      "to missing permissions, or does not support this operation.",
                      type_="GraphMethodException", subcode=33)


def invalid_parameter(details: str) -> GraphError:
    return GraphError(400, INVALID_PARAMETER, "(#100) Invalid parameter", details=details)


def no_call_permission(user: str) -> GraphError:
    return GraphError(400, NO_CALL_PERMISSION, "(#138006) No approved call permission from the recipient",
                      details=f"{user} has not granted the business permission to call")
