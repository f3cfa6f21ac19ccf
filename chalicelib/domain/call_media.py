"""The media side of a call's life: admitting its stream, and finalizing it exactly once.

Admission checks the stream's signed token, then claims the call for that stream (a conditional
write, so a second stream, or a replay of the first one's ``start``, is refused: one stream per call).
Finalizing stores the recording (uploaded from its file, in parts) and the transcript in S3, writes the
results on the call under a ``media_finalized_at`` condition (the one write that makes it exactly once,
whichever process gets there), moves the call through the state machine. ``complete`` then records
the post-call analysis and announces ``call.completed``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from pynamodb.exceptions import UpdateError

from chalicelib import aws_clients, event_bus, recordings
from chalicelib.db.models import Agent, Call, PostCallAction, utcnow
from chalicelib.db.warm_up import warm_up
from chalicelib.domain import call_completed
from chalicelib.domain.call_end import end_call
from chalicelib.domain.call_state import TERMINAL, transition
from chalicelib.observability import logger
from chalicelib.telephony import stream_tokens


@dataclass(frozen=True)
class AwsClients:
    """Clients a long-lived process creates once and shares between threads (boto3 clients are thread-safe;
    creating one costs tens of milliseconds of CPU, which would stall a real-time event loop per call)."""

    s3: Any
    events: Any

    @classmethod
    def create(cls) -> AwsClients:
        clients = cls(s3=aws_clients.s3(), events=aws_clients.client("events"))
        warm_up(Call, Agent, PostCallAction)  # build PynamoDB's clients now, not on the first call
        return clients


class Rejected(Exception):
    """The stream may not join a call; the message says why (safe to log, no secrets)."""


@dataclass(frozen=True)
class Admission:
    account_id: int
    call_id: int
    agent_id: int
    agent_name: str
    agent_config: dict[str, Any]
    call_context: dict[str, Any]
    to_number: str
    bulk_call_id: int | None
    stream_sid: str


@dataclass
class MediaResult:
    """What the conversation produced, for the call record."""

    ended_by: str  # "caller" | "agent" | "stream_dropped" | "shutdown" | "error"
    transcript: list[dict[str, Any]]
    turn_metrics: list[dict[str, Any]]
    wav: bytes | IO[bytes]  # the WAV recording, or a file object to read it from (during finalize only)
    duration_s: float
    conversation: dict[str, Any] = field(default_factory=dict)


def admit(call_id: str, token: str, stream_sid: str, secret: str) -> Admission:
    try:
        numeric_id = int(call_id)
    except (TypeError, ValueError):
        raise Rejected("call_id parameter missing or not a number") from None
    if not secret:
        raise Rejected("stream token secret is not configured")
    claims = stream_tokens.verify(secret, token, numeric_id)
    if claims is None:
        raise Rejected("stream token missing, forged, expired or for another call")
    account_id = int(claims["a"])
    try:
        call = Call.get(account_id, numeric_id, consistent_read=True)
    except Call.DoesNotExist:
        raise Rejected("call not found") from None
    if call.status in TERMINAL:
        raise Rejected(f"call already ended ({call.status})")
    try:
        call.update(actions=[Call.media_stream_sid.set(stream_sid)],
                    condition=Call.media_stream_sid.does_not_exist())
    except UpdateError:
        raise Rejected("call already has a media stream") from None
    try:
        agent = Agent.get(account_id, call.agent_id)
    except Agent.DoesNotExist:
        raise Rejected("the call's agent no longer exists") from None
    return Admission(account_id=account_id, call_id=numeric_id, agent_id=call.agent_id, agent_name=agent.name,
                     agent_config=dict(agent.config or {}), call_context=dict(call.call_context or {}),
                     to_number=call.to_number, bulk_call_id=call.bulk_call_id, stream_sid=stream_sid)


def started(admission: Admission, clients: AwsClients | None = None) -> None:
    """The conversation is live: the call is in progress (if the carrier's callback has not said so yet)."""
    call = Call.get(admission.account_id, admission.call_id, consistent_read=True)
    transition(call, "in_progress")
    _announce("call.started", admission, {"status": "in_progress"}, clients)


def held(admission: Admission, task_id: str) -> None:
    """The streaming task ``task_id`` holds the call's conversation: supervisor controls go to it."""
    hold(admission.account_id, admission.call_id, task_id)


def hold(account_id: int, call_id: int, task_id: str) -> None:
    """The streaming task ``task_id`` holds the call, admitted or not yet (a WhatsApp offer ringing the user):
    controls for the call go to it."""
    Call(account_id, call_id).update(actions=[Call.media_task.set(task_id)])


def record_live(admission: Admission, live: dict[str, Any]) -> None:
    """What a monitoring snapshot shows of the conversation so far (``{"seq", "transcript"}``)."""
    Call(admission.account_id, admission.call_id).update(actions=[Call.live.set(live)],
                                                         condition=Call.media_finalized_at.does_not_exist())


def finalize(admission: Admission, result: MediaResult, clients: AwsClients | None = None) -> bool:
    """Store and record the conversation; False when it was already finalized (nothing written)."""
    transcript_doc = {"call_id": admission.call_id, "agent_id": admission.agent_id, "turns": result.transcript,
                      "turn_metrics": result.turn_metrics, "ended_by": result.ended_by}
    stored = recordings.store(admission.account_id, admission.call_id, result.wav, transcript_doc,
                              client=clients.s3 if clients else None)
    recording = {**stored, "duration_s": round(result.duration_s, 2)}
    call = Call.get(admission.account_id, admission.call_id, consistent_read=True)
    try:
        call.update(actions=[
            Call.transcript.set(result.transcript), Call.turn_metrics.set(result.turn_metrics),
            Call.recording.set(recording), Call.conversation.set({"ended_by": result.ended_by, **result.conversation}),
            Call.media_finalized_at.set(utcnow()), Call.updated_at.set(utcnow()),
        ], condition=Call.media_finalized_at.does_not_exist())
    except UpdateError:
        logger.info("call already finalized", extra={"call_id": admission.call_id})
        return False
    if call.status not in TERMINAL:  # the carrier's completed callback may come first, or after: the same end
        end_call(call, "completed", details={"ended_by": result.ended_by, "duration_s": round(result.duration_s, 2)})
    return True


def variables_to_extract(admission: Admission) -> list[dict[str, str]]:
    """The extracted variables the agent's enabled post-call actions ask for (first prompt per key wins)."""
    wanted: dict[str, str] = {}
    # Only ``config``: the task role may not read an action's sealed secrets (an IAM attribute condition).
    for action in PostCallAction.query(f"{admission.account_id}#{admission.agent_id}", attributes_to_get=["config"]):
        if not action.config.get("enabled", True):
            continue
        for variable in action.config.get("extracted_variables") or []:
            wanted.setdefault(variable["key"], variable["prompt"])
    return [{"key": k, "prompt": p} for k, p in wanted.items()]


def complete(admission: Admission, analysis: dict[str, Any], clients: AwsClients | None = None) -> bool:
    """Record the post-call analysis and put ``call.completed`` (once per call); True when this put it."""
    call = Call.get(admission.account_id, admission.call_id, consistent_read=True)
    call.update(actions=[Call.analysis.set(analysis), Call.updated_at.set(utcnow())])
    return call_completed.announce(call, events_client=clients.events if clients else None,
                           s3=clients.s3 if clients else None)


def _announce(detail_type: str, admission: Admission, extra: dict[str, Any], clients: AwsClients | None) -> None:
    detail = {"account_id": admission.account_id, "call_id": admission.call_id, "agent_id": admission.agent_id,
              "bulk_call_id": admission.bulk_call_id, "to_number": admission.to_number, **extra}
    try:
        event_bus.put(detail_type, detail, client=clients.events if clients else None)
    except Exception:  # the call record is the source of truth; a lost event is logged, not fatal
        logger.exception("event not delivered", extra={"detail_type": detail_type, "call_id": admission.call_id})
