"""What a channel gets and gives back: one attempt to deliver one call's results to one action."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

# The local stack sets PARLEY_DELIVERY_ALLOWED_NETWORKS=127.0.0.0/8; a deployment leaves it empty.
DEFAULT_RETRY_SCHEDULE_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)  # ~27.6 h, like Svix


def _floats(raw: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if not raw:
        return default
    return tuple(float(part) for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class DeliverySettings:
    """Delivery knobs, from the environment (``from_env``)."""

    timeout_s: float = 10.0
    # Networks a target may resolve to although they are not public (CIDRs); empty in AWS.
    allowed_networks: tuple[str, ...] = ()
    # Delay before attempt 2, 3, ... (seconds); its length + 1 is the number of attempts.
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    jitter: float = 0.2  # each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
    ses_sender: str = "Parley <no-reply@parley.local>"
    hubspot_api_url: str = "https://api.hubapi.com"
    graph_api_url: str = "https://graph.facebook.com/v21.0"

    @classmethod
    def from_env(cls) -> DeliverySettings:
        env = os.environ
        return cls(
            timeout_s=float(env.get("PARLEY_DELIVERY_TIMEOUT_S", "10")),
            allowed_networks=tuple(n.strip() for n in env.get("PARLEY_DELIVERY_ALLOWED_NETWORKS", "").split(",")
                                   if n.strip()),
            retry_schedule_s=_floats(env.get("PARLEY_DELIVERY_RETRY_SCHEDULE"), DEFAULT_RETRY_SCHEDULE_S),
            jitter=float(env.get("PARLEY_DELIVERY_JITTER", "0.2")),
            ses_sender=env.get("PARLEY_SES_SENDER", cls.ses_sender),
            hubspot_api_url=env.get("PARLEY_HUBSPOT_API_URL", cls.hubspot_api_url).rstrip("/"),
            graph_api_url=env.get("PARLEY_GRAPH_API_URL", cls.graph_api_url).rstrip("/"),
        )


@dataclass(frozen=True)
class DeliveryRequest:
    """Everything one attempt needs. ``event`` is the ``call.completed`` detail (schema v1);
    ``config`` the action's stored config (url, recipients, include, payload_template, ...);
    ``credentials`` its opened secrets (``signing_secret`` for webhooks, channel tokens otherwise)."""

    event: dict[str, Any]
    action_id: int
    action_type: str
    config: dict[str, Any]
    credentials: dict[str, Any]
    webhook_id: str  # the same for every attempt of this delivery (Standard Webhooks ``webhook-id``)
    attempt: int  # 1-based
    settings: DeliverySettings = field(default_factory=DeliverySettings)
    is_test: bool = False
    previous_detail: dict[str, Any] = field(default_factory=dict)  # the last attempt's detail (e.g. who got it)
    account_id: int | None = None  # whose delivery it is (per-account quotas, e.g. emails a day)


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one attempt, recorded as is on the delivery."""

    ok: bool
    status_code: int | None = None
    latency_ms: float = 0.0
    error: str | None = None  # short, no secrets; None when ok
    retryable: bool = True  # False: do not try again (e.g. refused target, bad credentials config)
    gone: bool = False  # the receiver answered 410 Gone: disable the action
    refused: bool = False  # the target was refused before any request (SSRF rules)
    detail: dict[str, Any] = field(default_factory=dict)  # channel specifics (e.g. created record id)


class Channel(Protocol):
    def send(self, request: DeliveryRequest) -> AttemptResult: ...


class SendQuota(Protocol):
    """A per-account allowance of sends (e.g. emails a day)."""

    def take(self, account_id: int) -> str | None:
        """Count one send of ``account_id``: None when allowed, else why not (then nothing may be sent)."""
        ...
