"""The ``call.completed`` event: one per call, whatever way it ended, put on the bus once.

Its detail follows ``docs/events/call.completed.v1.schema.json`` (``version`` "1"); subscribers and
every post-call channel read it. A call with a conversation is announced by the streaming service
after the analysis; a call that ended without one (busy, no answer, failed, or answered with no media
stream) by whoever applied its terminal status. ``Call.completed_event_at`` is claimed under a
condition first, so two paths racing at the end of a call announce it once.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import aws_clients, event_bus, recordings
from chalicelib.credential_expiry import signing_credentials_expiry
from chalicelib.db.models import Agent, Call, PhoneNumber, utcnow
from chalicelib.observability import logger

DETAIL_TYPE = "call.completed"
SCHEMA_VERSION = "1"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "events" / "call.completed.v1.schema.json"
RECORDING_URL_TTL = timedelta(days=7)  # SigV4's maximum; shorter when the signing credentials expire sooner
MAX_DETAIL_BYTES = 200_000  # EventBridge takes 256 KB per entry: room for the envelope


def _default_clients() -> tuple[Any, Any]:
    """(events, s3): the process's shared clients."""
    return aws_clients.client("events"), aws_clients.s3()


def full_conversation(transcript: list[dict[str, Any]]) -> str:
    return "\n".join(f"{'Agent' if t.get('role') == 'agent' else 'User'}: {t.get('text', '')}" for t in transcript)


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _signed_url(key_holder: dict[str, Any] | None, key: str, s3: Any) -> tuple[str | None, str | None]:
    """A presigned GET URL for ``key_holder[key]`` and when it really expires (credentials included)."""
    if not key_holder or not key_holder.get(key):
        return None, None
    url = recordings.presigned_url({"bucket": key_holder["bucket"], "key": key_holder[key]}, client=s3,
                                   expires_in=int(RECORDING_URL_TTL.total_seconds()))
    expires = datetime.now(UTC) + RECORDING_URL_TTL
    credentials_expire = signing_credentials_expiry(s3)
    if credentials_expire is not None:
        expires = min(expires, credentials_expire)
    return url, expires.replace(microsecond=0).isoformat()


def _numbers(call: Call) -> str | None:
    if call.from_number_id is None:
        return None
    try:
        return PhoneNumber.get(call.account_id, call.from_number_id, attributes_to_get=["number"]).number
    except PhoneNumber.DoesNotExist:
        return None


def _agent_name(call: Call) -> str | None:
    try:
        return Agent.get(call.account_id, call.agent_id, attributes_to_get=["name"]).name
    except Agent.DoesNotExist:
        return None


def build_detail(call: Call, s3: Any = None) -> dict[str, Any]:
    """The event detail for a call in a terminal status (transcript and analysis when it talked)."""
    details = call.details or {}
    transcript = list(call.transcript or [])
    analysis = call.analysis or {}
    recording = call.recording or {}
    s3 = s3 or _default_clients()[1]
    recording_url, recording_expiry = _signed_url(recording, "key", s3)
    duration = recording.get("duration_s", details.get("duration_s", details.get("duration_seconds")))
    ended_at = details.get(f"{call.status}_at") or _iso(call.updated_at)
    detail: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "event_type": DETAIL_TYPE,
        "occurred_at": datetime.now(UTC).isoformat(),
        "account_id": call.account_id,
        "call_id": call.call_id,
        "agent": {"id": call.agent_id, "name": _agent_name(call)},
        "bulk_call_id": call.bulk_call_id,
        "from_number": _numbers(call),
        "to_number": call.to_number,
        "channel": call.channel or "phone",
        "status": call.status,
        "ended_by": (call.conversation or {}).get("ended_by"),
        "reason": details.get("reason"),
        "started_at": details.get("in_progress_at"),
        "ended_at": ended_at,
        "duration_s": float(duration) if duration is not None else None,
        "transcript": transcript,
        "transcript_truncated": False,
        "full_conversation": full_conversation(transcript),
        "summary": analysis.get("summary"),
        "sentiment": analysis.get("sentiment"),
        "extracted_variables": dict(analysis.get("extracted_variables") or {}),
        "analysis_errors": list(analysis.get("errors") or []),
        "recording_url": recording_url,
        "recording_url_expires_at": recording_expiry,
        "call_context": dict(call.call_context or {}),
    }
    if len(json.dumps(detail, default=str)) > MAX_DETAIL_BYTES:
        transcript_url, _ = _signed_url(recording, "transcript_key", s3)
        detail.update(transcript=[], full_conversation="", transcript_truncated=True, transcript_url=transcript_url)
    return detail


def announce(call: Call, *, events_client: Any = None, s3: Any = None) -> bool:
    """Put ``call.completed`` for ``call`` unless it was already announced; True when this call put it."""
    try:
        call.update(actions=[Call.completed_event_at.set(utcnow())],
                    condition=Call.completed_event_at.does_not_exist())
    except UpdateError:
        return False
    detail = build_detail(call, s3=s3)
    try:
        event_bus.put(DETAIL_TYPE, detail, client=events_client or _default_clients()[0])
    except Exception:
        # Release the claim so a later path (or a retry of this one) can announce it.
        call.update(actions=[Call.completed_event_at.remove()])
        logger.exception("call.completed not put", extra={"call_id": call.call_id})
        raise
    return True


def announce_if_silent(call: Call, *, events_client: Any = None) -> bool:
    """Announce a call that reached a terminal status without a media stream (nobody else will)."""
    if call.media_stream_sid is not None:
        return False  # the streaming service announces it after finalizing and analysing
    try:
        return announce(call, events_client=events_client)
    except Exception:
        return False
