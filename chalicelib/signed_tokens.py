"""Compact signed claims: ``<base64url JSON claims>.<base64url HMAC-SHA256>``, with an expiry (``exp``).

The one format behind stream tokens (a carrier's or browser's media joining a call), monitor tokens (a
browser opening the monitoring WebSocket) and task tokens (a streaming task's own monitoring link). A
``purpose`` keeps them apart: a token signed for one purpose never verifies for another.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def issue(secret: str, claims: dict[str, Any], ttl_seconds: float, *, purpose: str = "",
          now: float | None = None) -> str:
    body = {**claims, "exp": int((time.time() if now is None else now) + ttl_seconds)}
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{payload}.{sign(secret, payload, purpose)}"


def verify(secret: str, token: str | None, *, purpose: str = "", now: float | None = None) -> dict[str, Any] | None:
    """The claims of an authentic, unexpired token; None for anything else (malformed input included)."""
    token = token or ""
    if not secret or not token.isascii() or len(token) > 4096:  # compare_digest refuses non-ASCII str
        return None
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, sign(secret, payload, purpose)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        return None
    if claims["exp"] < (time.time() if now is None else now):
        return None
    return claims


def sign(secret: str, payload: str, purpose: str = "") -> str:
    key = secret.encode() if not purpose else hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
