"""The streaming service's WhatsApp endpoints (docs/whatsapp-calls.md §5), asked by the API only.

``POST {media_url}/answer`` ``{"call_id", "token", "sdp"}`` -> ``{"type": "answer", "sdp"}`` (a user calls), and
``POST {media_url}/offer`` ``{"call_id", "token"}`` -> ``{"type": "offer", "sdp"}`` (the business calls). The
token is the call's stream token (``stream_tokens.issue``), which only the API can mint: :data:`TOKEN_TTL_S` for an
answer; for an offer, the ring timeout plus :data:`OFFER_TOKEN_MARGIN_S`, as the task checks it again when the
user's answer comes.
Any refusal (the service's ``{"error", "error_description"}``), a malformed answer or a network failure raises
:class:`MediaError`, whose message is safe to log and store (the token is never in it).
"""
from __future__ import annotations

import time
from typing import Any

import requests

from chalicelib.telephony import stream_tokens

TOKEN_TTL_S = 60
OFFER_TOKEN_MARGIN_S = 30
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0  # the task gathers its ICE candidates before it answers
MAX_DETAIL = 200


class MediaError(Exception):
    """The streaming service refused or could not be reached; ``str(error)`` is safe to log."""


class MediaClient:
    def __init__(self, media_url: str, token_secret: str, session: requests.Session | None = None) -> None:
        if not token_secret:
            raise MediaError("PARLEY_STREAM_TOKEN_SECRET is not set")
        self._url = media_url.rstrip("/")
        self._secret = token_secret
        self._http = session or requests.Session()

    def answer(self, account_id: int, call_id: int, offer_sdp: str) -> str:
        """The streaming task's SDP answer to WhatsApp's offer (the task admits and starts the call)."""
        return self._sdp("answer", {"call_id": call_id, "token": self._token(account_id, call_id),
                                    "sdp": offer_sdp})

    def offer(self, account_id: int, call_id: int, ring_timeout_s: int) -> str:
        """A streaming task's SDP offer for a call the business places (the task waits up to ``ring_timeout_s`` for
        the answer, and admits the call with this token then)."""
        token = self._token(account_id, call_id, ttl_s=ring_timeout_s + OFFER_TOKEN_MARGIN_S)
        return self._sdp("offer", {"call_id": call_id, "token": token})

    def _token(self, account_id: int, call_id: int, ttl_s: int = TOKEN_TTL_S) -> str:
        return stream_tokens.issue(self._secret, account_id, call_id, ttl_seconds=ttl_s, now=time.time())

    def _sdp(self, kind: str, body: dict[str, Any]) -> str:
        try:
            response = self._http.post(f"{self._url}/{kind}", json=body, allow_redirects=False,
                                       timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        except requests.RequestException as error:
            raise MediaError(f"media {kind}: streaming service unreachable ({type(error).__name__})") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            code = data.get("error") if isinstance(data, dict) else None
            raise MediaError(f"media {kind}: streaming service answered {response.status_code}"
                             + (f" ({str(code)[:MAX_DETAIL]})" if code else ""))
        sdp = data.get("sdp") if isinstance(data, dict) and data.get("type") == kind else None
        if not isinstance(sdp, str) or not sdp.strip():
            raise MediaError(f"media {kind}: the streaming service's answer holds no SDP {kind}")
        return sdp
