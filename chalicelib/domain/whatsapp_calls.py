"""WhatsApp calls from the webhook, once verified: a user calls the business, and WhatsApp ends a call
(docs/whatsapp-calls.md §3-4; the business side's answers and statuses are ``whatsapp_outbound``).

Invariants:

* One call per wacid: a call is created in one transaction with ``UniqueClaim("whatsapp-call#{wacid}")``
  (owner ``"{account_id}#{call_id}"``) and a slot on the number (``inbound_slots.record_inbound``); a retried
  ``connect`` finds the claim and does nothing more. Every later
  event finds its call through that claim, and only when the call belongs to the number the event came for.
* A user's call to a number with no agent (or an ``Outgoing``-only agent), or beyond
  ``PARLEY_INBOUND_MAX_CONCURRENT`` live inbound calls (an exact count: ``inbound_slots``, the same slots as
  Twilio inbound calls), is rejected on Graph and not recorded.
* A recorded user call is answered in this order: the streaming service's answer, Graph ``pre_accept``, Graph
  ``accept``; then it is ``in_progress``. If any step fails the call is rejected on Graph (best effort) and ends
  ``failed`` with the reason (the reason is safe: it never holds a token).
* ``terminate`` sends ``caller_hung_up`` to the task holding the call. A business call not yet answered is
  ended here too (``busy`` when the user rejected it, else ``no_answer``); any call no task holds is ended here
  (``completed`` if it was in progress, else ``failed``). Ending goes through ``call_end.end_call`` only, so a
  repeated or reordered event changes nothing.
* ``details.whatsapp`` holds the wacid and direction, then WhatsApp's terminate ``status`` and ``duration``.
* Race: an event about a business call can arrive before its claim is written (WhatsApp rings the user and
  reports ``RINGING`` before Parley has stored Graph's answer to ``connect``). An event about a call Parley does
  not know that is less than ``RECENT_S`` old raises :class:`NotKnownYet`: the webhook answers 503 and Meta
  delivers it again, by when the claim is there. An older one is skipped (not Parley's call).
"""
from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.db.models import Call, PhoneNumber, UniqueClaim
from chalicelib.db.sequences import next_id
from chalicelib.domain import call_state
from chalicelib.domain.agents import agent_key
from chalicelib.domain.call_end import end_call
from chalicelib.domain.call_state import INCOMING
from chalicelib.domain.errors import NotFound
from chalicelib.domain.inbound_calls import answering_agent, max_concurrent
from chalicelib.domain.inbound_slots import NumberBusy, record_inbound
from chalicelib.monitoring import controls
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.schemas.whatsapp import CallEvent
from chalicelib.whatsapp.config import WhatsAppConfig
from chalicelib.whatsapp.credentials import graph_for
from chalicelib.whatsapp.graph import GraphError, digits
from chalicelib.whatsapp.media import MediaClient, MediaError

CHANNEL = "whatsapp"
USER_INITIATED = "USER_INITIATED"
BUSINESS_INITIATED = "BUSINESS_INITIATED"
MAX_REASON = 300


def call_claim(wacid: str) -> str:
    return f"whatsapp-call#{wacid}"


RECENT_S = 60


class NotKnownYet(Exception):
    """A recent event about a call whose claim is not written yet: to be delivered again."""


def unknown_call(event_timestamp: int | str | None, what: str, now: float | None = None) -> None:
    """An event found no call: raise :class:`NotKnownYet` when it is recent (see the module docstring)."""
    try:
        age = (time.time() if now is None else now) - int(event_timestamp or 0)
    except ValueError:
        return
    if 0 <= age < RECENT_S:
        raise NotKnownYet(f"{what} for a call not known yet")


def find_call(number: PhoneNumber, wacid: str) -> Call | None:
    """The call the wacid was claimed for, if it is a call of ``number``."""
    try:
        claim = UniqueClaim.get(call_claim(wacid), consistent_read=True)
        account, _, call_id = claim.owner.partition("#")
        if int(account) != number.account_id or not call_id.isdigit():
            return None
        call = Call.get(number.account_id, int(call_id), consistent_read=True)
    except (UniqueClaim.DoesNotExist, Call.DoesNotExist, ValueError):
        return None
    return call if call.from_number_id == number.phone_number_id else None


def answer_user_call(number: PhoneNumber, event: CallEvent, caller_name: str | None,
                     config: WhatsAppConfig) -> int | None:
    """A user calls the business number: the call answered (its id), or None (rejected, or a retry)."""
    if event.session is None:
        return None
    agent = answering_agent(number)
    if agent is None or config.media_url is None:
        _rejected(number, event.id, config, "no agent" if agent is None else "media not configured")
        return None
    caller = f"+{digits(event.from_ or '')}" if digits(event.from_ or "") else ""
    call = Call(number.account_id, next_id("call"), agent_key=agent_key(number.account_id, agent.agent_id),
                agent_id=agent.agent_id, to_number=number.number, from_number_id=number.phone_number_id,
                status="queued", channel=CHANNEL, call_type=INCOMING, carrier_sid=event.id,
                call_context={"caller_number": caller},
                details={"direction": "inbound", "caller_number": caller, "called_number": number.number,
                         "caller_name": caller_name, "whatsapp": {"wacid": event.id, "direction": USER_INITIATED}},
                active_account=number.account_id)
    try:
        if not record_inbound(call, call_claim(event.id), max_concurrent()).created:
            logger.info("whatsapp connect retried", extra={"phone_number_id": call.from_number_id})
            return None  # its call was answered by the first
    except NumberBusy:
        _rejected(number, event.id, config, "busy")
        return None
    monitoring.call_queued(call)
    try:
        answer = MediaClient(config.media_url, config.stream_token_secret).answer(
            call.account_id, call.call_id, event.session.sdp)
        graph = graph_for(number, config.graph_api_url)
        graph.pre_accept(event.id, answer)
        graph.accept(event.id, answer, callback_data=str(call.call_id))
    except (MediaError, GraphError) as error:
        logger.warning("whatsapp call not answered", extra={"call_id": call.call_id, "error": str(error)})
        _reject(number, event.id, config)
        drop_media(call)
        end_call(call, "failed", {"reason": f"not answered: {error}"[:MAX_REASON]})
        return None
    call_state.transition(call, "in_progress", details={"carrier_status": "accepted"})
    logger.info("whatsapp call answered", extra={"call_id": call.call_id, "phone_number_id": number.phone_number_id})
    return call.call_id


def _rejected(number: PhoneNumber, wacid: str, config: WhatsAppConfig, reason: str) -> None:
    logger.info("whatsapp call rejected", extra={"phone_number_id": number.phone_number_id, "reason": reason})
    _reject(number, wacid, config)


def _reject(number: PhoneNumber, wacid: str, config: WhatsAppConfig) -> None:
    """Graph ``reject``, best effort (the user's phone stops ringing; WhatsApp ends it anyway otherwise)."""
    try:
        graph_for(number, config.graph_api_url).reject(wacid)
    except GraphError as error:
        logger.warning("whatsapp reject failed", extra={"phone_number_id": number.phone_number_id,
                                                        "error": str(error)})


def drop_media(call: Call) -> bool:
    """Tell the task holding the call (if any) that the other side is gone; False when no task holds it."""
    try:
        controls.send(call.account_id, call.call_id, {"type": "caller_hung_up"})
    except (controls.NotLive, NotFound):
        return False
    return True


def whatsapp_details(call: Call, **fields: Any) -> dict[str, Any]:
    """``details.whatsapp`` with ``fields`` added (for a transition's ``details``)."""
    current = (call.details or {}).get("whatsapp") or {}
    return {"whatsapp": {**current, **{k: v for k, v in fields.items() if v is not None}}}


def _note_on_ended_call(call: Call, details: dict[str, Any]) -> None:
    """WhatsApp's own end of a call that already ended here (the media went first): its status and duration join
    the log, unless the call changed since it was read (then the note is left out: nothing is overwritten)."""
    try:
        call.update(actions=[Call.details.set({**(call.details or {}), **details})],
                    condition=Call.updated_at == call.updated_at)
    except UpdateError:
        logger.info("whatsapp terminate note skipped: the call changed", extra={"call_id": call.call_id})


def terminated(number: PhoneNumber, event: CallEvent) -> None:
    """WhatsApp ended the call (the user hung up, rejected it, or it failed): see the module docstring."""
    call = find_call(number, event.id)
    if call is None:
        unknown_call(event.timestamp, "terminate")
        logger.info("whatsapp terminate without a call", extra={"phone_number_id": number.phone_number_id})
        return
    details = whatsapp_details(call, status=event.status, duration=event.duration)
    if call.status in call_state.TERMINAL:
        _note_on_ended_call(call, details)
        return
    call.update(actions=[Call.details.set({**(call.details or {}), **details})])
    call.refresh(consistent_read=True)
    held = drop_media(call)
    unanswered_business_call = call.call_type != INCOMING and call.media_stream_sid is None
    if unanswered_business_call:
        rejected = (event.status or "").upper() == "REJECTED"
        end_call(call, "busy" if rejected else "no_answer", {**details, "ended_by": "caller"})
    elif not held:
        connected = call.status == "in_progress"
        end_call(call, "completed" if connected else "failed",
                 {**details, "ended_by": "caller"} if connected
                 else {**details, "reason": "the caller hung up before the call connected"})
