"""The ``calls`` webhooks Meta sends to a business number's callback URL.

Every delivery is the Cloud API envelope, signed ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body with the app secret>``, and retried with exponential backoff while the receiver answers non-2xx (or
cannot be reached). Each attempt is recorded.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from devstack.whatsapp_sim.registry import Number

SIGNATURE_HEADER = "X-Hub-Signature-256"


def envelope(number: Number, value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": number.waba_id, "changes": [{"value": value, "field": "calls"}]}]}


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def base_value(number: Number) -> dict[str, Any]:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": number.digits, "phone_number_id": number.phone_number_id}}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_backoff_s: float = 0.5
    timeout_s: float = 10.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        return self.first_backoff_s * 2 ** (attempt - 1)


class WebhookSender:
    """Signs and delivers webhooks; every attempt goes to ``record`` and to :attr:`deliveries`."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deliveries: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver(self, number: Number, value: dict[str, Any], label: str,
                      record: Callable[[dict[str, Any]], None]) -> int | None:
        """Deliver one webhook until it is answered 2xx or the attempts run out; the last status (None: no
        answer at all)."""
        body = json.dumps(envelope(number, value), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(number.app_secret, body),
                   "User-Agent": "facebookexternalua"}
        status: int | None = None
        for attempt in range(1, self.policy.attempts + 1):
            error: str | None = None
            try:
                async with self.session().post(number.webhook_url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            delivery = {"at": round(time.time(), 3), "kind": "webhook", "event": label, "attempt": attempt,
                        "status_code": status, "url": number.webhook_url}
            if error:
                delivery["error"] = error
            self.deliveries.append({**delivery, "body": json.loads(body)})
            record(delivery)
            if status is not None and 200 <= status < 300:
                return status
            if attempt < self.policy.attempts:
                await asyncio.sleep(self.policy.backoff(attempt))
        return status
