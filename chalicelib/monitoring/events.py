"""The monitoring events (docs/monitoring.md; schemas in docs/events/monitor.*.v1.schema.json).

Every event is a JSON object with ``type``, ``version``, ``call_id``, ``bulk_call_id``, ``at`` and ``seq``.
``seq`` is per call and strictly increasing: the fixed numbers below for the states a Lambda publishes,
then the streaming task's own count from ``SEQ_IN_PROGRESS`` on (it holds the call from then).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

VERSION = 1
SEQ_QUEUED = 1
SEQ_RINGING = 2
SEQ_IN_PROGRESS = 3
SEQ_ENDED_WITHOUT_CONVERSATION = 4  # then call.ended is 5
STATUS_SEQ = {"queued": SEQ_QUEUED, "ringing": SEQ_RINGING, "in_progress": SEQ_IN_PROGRESS}

CALL_EVENT_TYPES = ("call.status", "transcript.partial", "transcript.final", "turn.metrics", "barge_in", "control",
                    "call.ended")
ALL_TYPES = (*CALL_EVENT_TYPES, "snapshot", "campaign.progress", "pong", "error")


def now_iso(moment: float | None = None) -> str:
    when = datetime.now(UTC) if moment is None else datetime.fromtimestamp(moment, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(kind: str, *, call_id: int | None, bulk_call_id: int | None, seq: int, at: float | None = None,
          **fields: Any) -> dict[str, Any]:
    return {"type": kind, "version": VERSION, "call_id": call_id, "bulk_call_id": bulk_call_id, "at": now_iso(at),
            "seq": seq, **fields}


def status_event(call_id: int, bulk_call_id: int | None, status: str, seq: int, *, outcome: str | None = None,
                 reason: str | None = None, at: float | None = None) -> dict[str, Any]:
    """``call.status``; ``status`` is queued | ringing | in_progress | ended (then with outcome and reason)."""
    fields: dict[str, Any] = {"status": status}
    if status == "ended":
        fields.update(outcome=outcome, reason=reason)
    return event("call.status", call_id=call_id, bulk_call_id=bulk_call_id, seq=seq, at=at, **fields)


def ended_fields(outcome: str, duration_s: float | None, analysis: dict[str, Any] | None) -> dict[str, Any]:
    """``call.ended``'s own fields (the Lambdas and the streaming task both send it)."""
    analysis = analysis or {}
    return {"outcome": outcome, "duration_s": duration_s, "summary": analysis.get("summary"),
            "sentiment": analysis.get("sentiment"), "extracted_variables": analysis.get("extracted_variables") or {}}


def ended_event(call_id: int, bulk_call_id: int | None, seq: int, *, outcome: str, duration_s: float | None,
                analysis: dict[str, Any] | None, at: float | None = None) -> dict[str, Any]:
    return event("call.ended", call_id=call_id, bulk_call_id=bulk_call_id, seq=seq, at=at,
                 **ended_fields(outcome, duration_s, analysis))


def error_event(error: str, description: str) -> dict[str, Any]:
    return event("error", call_id=None, bulk_call_id=None, seq=0, error=error, error_description=description)


def pong_event() -> dict[str, Any]:
    return event("pong", call_id=None, bulk_call_id=None, seq=0)
