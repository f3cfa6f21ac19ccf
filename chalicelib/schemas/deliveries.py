"""Post-call deliveries of a call, their attempts, replays and test sends."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from chalicelib.schemas.common import Out, Strict


class AttemptOut(Out):
    attempt: int
    at: datetime
    outcome: str = Field(description="succeeded, retry, failed, refused (target not allowed) or gone (410)")
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    next_attempt_at: datetime | None = None
    detail: dict[str, Any] | None = None


class DeliveryOut(Out):
    call_id: int
    action_id: int
    action_type: str
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt and replay")
    status: str = Field(description="pending, succeeded, failed (all attempts failed; in the DLQ), refused, "
                                    "gone (410: the action was disabled) or cancelled (action deleted/disabled)")
    attempt_count: int
    next_attempt_at: float | None = Field(default=None, description="Epoch seconds of the next attempt, if pending")
    last_error: str | None = None
    delivered_at: datetime | None = None
    attempts: list[AttemptOut]
    created_at: datetime
    updated_at: datetime


class DeliveryList(Out):
    status: str = "success"
    deliveries: list[DeliveryOut]
    total: int


class Replayed(Out):
    status: str = "success"
    replayed: list[int] = Field(description="Action ids whose delivery was queued again")
    skipped: dict[str, str] = Field(default_factory=dict, description="Action id -> why it was not replayed")


class TestResult(Out):
    status: str = "success"
    ok: bool
    webhook_id: str
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    refused: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)
    event: dict[str, Any] = Field(description="The sample call.completed event that was delivered")


class RotatedSecret(Out):
    status: str = "success"
    id: int
    signing_secret: str
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries are signed with both secrets (two signatures in webhook-signature)")


RECOVER_LIMIT = 500  # deliveries queued again per request: the request stays well inside the API's 29 s


class RecoverRequest(Strict):
    since: Annotated[AwareDatetime, Field(strict=False, description=(
        "Send again the action's deliveries that ended undelivered (failed, refused, gone or cancelled) at "
        "or after this time (RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z)"))]


class Recovered(Out):
    status: str = "success"
    recovered: int = Field(description="Deliveries queued again (same webhook-id, a new round of attempts)")
    call_ids: list[int] = Field(description="The calls whose delivery was queued again, oldest failure first")
    more: bool = Field(description=f"More remain: send the same request again (at most {RECOVER_LIMIT} per request)")
