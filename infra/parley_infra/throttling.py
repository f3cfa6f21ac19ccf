"""Throttling settings: the REST API's request rates (stage and per account), the monitoring WebSocket API's
and the workers' concurrency.

``parley_infra.api`` applies the rates (stage method settings, the per-account usage plan),
``parley_infra.monitoring`` the WebSocket stage's and
``parley_infra.stack`` the concurrency (reserved concurrency, matched by each SQS event source's
``MaximumConcurrency``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

THROTTLE_CONTEXT_KEYS = {
    "api_rate_limit": "apiRateLimit",
    "api_burst_limit": "apiBurstLimit",
    "account_rate_limit": "accountRateLimit",
    "account_burst_limit": "accountBurstLimit",
    "monitor_rate_limit": "monitorRateLimit",
    "monitor_burst_limit": "monitorBurstLimit",
    "dialer_concurrency": "dialerReservedConcurrency",
    "campaign_ops_concurrency": "campaignOpsReservedConcurrency",
    "call_events_concurrency": "callEventsReservedConcurrency",
    "delivery_concurrency": "deliveryReservedConcurrency",
}
"""``ThrottleSettings`` field -> CDK context key; a worker's concurrency ``none`` leaves it unreserved."""


class _Context(Protocol):
    def try_get_context(self, key: str) -> object: ...


@dataclass(frozen=True)
class ThrottleSettings:
    """Request rates the REST API admits and how many copies of each queue worker may run.

    ``api_*``: the stage's throttle on every method (requests per second, and the burst bucket), what all
    callers together get. ``account_*``: the usage plan's throttle per account (each account's API Gateway
    key, which the authorizer returns), so one tenant cannot use up the stage's share. ``*_concurrency``:
    reserved concurrency of each SQS worker (also its event source's ``MaximumConcurrency``, so Lambda
    never throttles a batch back to the queue); None leaves the worker in the account's unreserved pool
    (needed where the account's concurrency limit is small: Lambda keeps 100 unreserved). ``monitor_*``: the
    monitoring WebSocket stage's throttle on what clients send (connects and messages per second, all clients
    together); posts to connections through the management API are not counted against it.
    """

    api_rate_limit: float = 200
    api_burst_limit: int = 400
    account_rate_limit: float = 25
    account_burst_limit: int = 50
    monitor_rate_limit: float = 100
    monitor_burst_limit: int = 200
    dialer_concurrency: int | None = 10
    campaign_ops_concurrency: int | None = 5
    call_events_concurrency: int | None = 5
    delivery_concurrency: int | None = 20

    def __post_init__(self) -> None:
        if not (self.api_rate_limit > 0 and self.account_rate_limit > 0 and self.monitor_rate_limit > 0):
            raise ValueError("apiRateLimit, accountRateLimit and monitorRateLimit must be positive")
        if not (self.api_burst_limit >= 1 and self.account_burst_limit >= 1 and self.monitor_burst_limit >= 1):
            raise ValueError("apiBurstLimit, accountBurstLimit and monitorBurstLimit must be at least 1")
        if self.account_rate_limit > self.api_rate_limit or self.account_burst_limit > self.api_burst_limit:
            raise ValueError("an account's rate and burst (accountRateLimit, accountBurstLimit) must not exceed the "
                             "stage's (apiRateLimit, apiBurstLimit)")
        for field in ("dialer_concurrency", "campaign_ops_concurrency", "call_events_concurrency",
                      "delivery_concurrency"):
            value = getattr(self, field)
            if value is not None and not 2 <= value <= 1000:
                raise ValueError(f"{THROTTLE_CONTEXT_KEYS[field]} must be 2..1000 (an SQS event source's "
                                 f"MaximumConcurrency is at least 2) or none, got {value!r}")

    @classmethod
    def from_context(cls, node: _Context) -> ThrottleSettings:
        """From CDK context; numbers may be strings (``-c apiRateLimit=500``), a concurrency may be ``none``."""
        values: dict[str, object] = {}
        for field, key in THROTTLE_CONTEXT_KEYS.items():
            value = node.try_get_context(key)
            if value is None or value == "":
                continue
            if field.endswith("_concurrency") and str(value).lower() == "none":
                values[field] = None
                continue
            try:
                values[field] = float(str(value)) if field.endswith("rate_limit") else int(str(value))
            except ValueError:
                raise ValueError(f"context {key} must be a number, got {value!r}") from None
        return cls(**values)  # type: ignore[arg-type]  # values are validated field by field above
