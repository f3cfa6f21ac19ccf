"""The Graph API's calling endpoints for one WhatsApp number (Cloud API), with its access token.

``POST /{phone_number_id}/calls`` with an ``action`` (``pre_accept``, ``accept``, ``reject``, ``terminate``,
``connect``) and ``GET /{phone_number_id}/call_permissions``. Every request is bounded (connect 3 s, read 5 s:
a Lambda answering Meta's webhook cannot wait long). A refusal (Graph's ``{"error": {"message", "type",
"code"}}``, any status >= 400) or a network failure raises :class:`GraphError`, whose message is safe to log
and to store: it never holds the token, and at most 200 characters of what Graph said.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_DETAIL = 200
_DIGITS = re.compile(r"[^0-9]")


class GraphError(Exception):
    """Graph refused a request or could not be reached; ``str(error)`` is safe to log."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def digits(number: str) -> str:
    """A WhatsApp id from an E.164 number: its digits only."""
    return _DIGITS.sub("", number)


@dataclass(frozen=True)
class Permission:
    """Whether the business may call a user now (``call_permissions``)."""

    status: str
    can_start_call: bool

    @property
    def granted(self) -> bool:
        return self.status in ("granted", "temporary") and self.can_start_call


def _answer_sdp(sdp: str) -> dict[str, str]:
    return {"sdp_type": "answer", "sdp": sdp}


class GraphCalls:
    """One number's calling endpoints: ``base_url`` (``PARLEY_GRAPH_API_URL``), Meta's phone number id, token."""

    def __init__(self, base_url: str, phone_number_id: str, access_token: str,
                 session: requests.Session | None = None) -> None:
        self._url = f"{base_url.rstrip('/')}/{digits(phone_number_id)}"
        self._token = access_token
        self._http = session or requests.Session()

    def pre_accept(self, wacid: str, answer_sdp: str) -> None:
        self._action(wacid, "pre_accept", session=_answer_sdp(answer_sdp))

    def accept(self, wacid: str, answer_sdp: str, callback_data: str | None = None) -> None:
        extra = {"biz_opaque_callback_data": callback_data} if callback_data else {}
        self._action(wacid, "accept", session=_answer_sdp(answer_sdp), **extra)

    def reject(self, wacid: str) -> None:
        self._action(wacid, "reject")

    def terminate(self, wacid: str) -> None:
        self._action(wacid, "terminate")

    def connect(self, to_number: str, offer_sdp: str, callback_data: str) -> str:
        """Call a user: the new call's wacid."""
        answer = self._request("POST", "/calls", json={
            "messaging_product": "whatsapp", "to": digits(to_number), "action": "connect",
            "session": {"sdp_type": "offer", "sdp": offer_sdp}, "biz_opaque_callback_data": callback_data})
        calls = answer.get("calls")
        wacid = calls[0].get("id") if isinstance(calls, list) and calls and isinstance(calls[0], dict) else None
        if not isinstance(wacid, str) or not wacid:
            raise GraphError("graph connect answered without a call id")
        return wacid

    def call_permissions(self, to_number: str) -> Permission:
        answer = self._request("GET", "/call_permissions", params={"user_wa_id": digits(to_number)})
        found, listed = answer.get("permission"), answer.get("actions")
        permission: dict[str, Any] = found if isinstance(found, dict) else {}
        actions: list[Any] = listed if isinstance(listed, list) else []
        can_start = any(isinstance(a, dict) and a.get("action_name") == "start_call"
                        and a.get("can_perform_action") is True for a in actions)
        return Permission(status=str(permission.get("status", "")), can_start_call=can_start)

    def _action(self, wacid: str, action: str, **fields: Any) -> None:
        self._request("POST", "/calls", json={"messaging_product": "whatsapp", "call_id": wacid, "action": action,
                                              **fields})

    def _request(self, method: str, path: str, *, json: dict[str, Any] | None = None,
                 params: dict[str, str] | None = None) -> dict[str, Any]:
        what = f"graph {json.get('action') if json else path.strip('/')}"
        try:
            response = self._http.request(method, self._url + path, json=json, params=params,
                                          headers={"Authorization": f"Bearer {self._token}"},
                                          timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), allow_redirects=False)
        except requests.RequestException as error:  # its text may name the URL, never the token (a header)
            raise GraphError(f"{what}: Graph API unreachable ({type(error).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise _refusal(what, response.status_code, body, self._token)
        return body if isinstance(body, dict) else {}


def _refusal(what: str, status: int, body: Any, token: str) -> GraphError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphError(f"{what}: Graph answered {status}", status=status)
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = " ".join(str(error.get("message") or error.get("type") or "").split())
    if token:
        message = message.replace(token, "<token>")
    return GraphError(f"{what}: Graph answered {status} ({code}): {message[:MAX_DETAIL]}".rstrip(": "),
                      status=status, code=code)
