"""Call bodies (``call.dispatch_call`` / ``get_call_logs`` / ``get_call_log``)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from chalicelib.schemas.common import CALL_STATUSES, E164, Id, Out, Page, Strict

CallStatus = Literal["queued", "ringing", "in_progress", "completed", "failed", "busy", "no_answer"]
assert CallStatus.__args__ == CALL_STATUSES  # type: ignore[attr-defined]


class Dispatch(Strict):
    agent_id: Id
    to_number: E164
    from_number_id: Id | None = None
    call_context: dict[str, Any] = Field(
        default_factory=dict, description="Variables for this call, e.g. {\"customer_name\": \"Ada\"}."
    )


class LogsQuery(Page):
    model_config = ConfigDict(extra="ignore", strict=False)
    agentid: Annotated[int, Field(ge=1, le=2**53 - 1)] | None = None
    call_status: CallStatus | None = None


class CallOut(Out):
    id: int
    agent_id: int
    to_number: str
    from_number_id: int | None = None
    call_status: CallStatus
    call_context: dict[str, Any]
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Dispatched(Out):
    status: str = "success"
    success: bool = True
    requestId: int
    call_id: int
    call_status: CallStatus
    message: str


class CallLogList(Out):
    status: str = "success"
    call_log_data: list[CallOut]
    total_records: int
    pageno: int
    pagesize: int
