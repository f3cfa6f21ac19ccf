"""The business calls a user on WhatsApp (docs/whatsapp-calls.md §4): what follows the placement
(``chalicelib.telephony.whatsapp``) on the webhook, and the expiry of a call nobody answered.

Invariants:

* A status ``RINGING`` moves the call to ``ringing``; ``ACCEPTED`` changes nothing (the user's answer comes as a
  ``connect``); ``REJECTED`` ends it ``busy`` and tells the task to drop its offer. Every move goes through the
  state machine, so a repeated or reordered status changes nothing.
* The user's answer (``connect`` with an SDP answer) goes to the task holding the offer as the control
  ``whatsapp_answer``; no Graph call follows. If no task holds the call any more, the call ends ``failed`` and
  WhatsApp is asked to terminate it (best effort).
* The expiry message (queued at placement, ring timeout + 15 s later) ends the call ``no_answer`` unless a
  media stream was admitted, and then no stream can join it; WhatsApp is asked to terminate it (best effort).
"""
from __future__ import annotations

from typing import Any

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.domain import call_state
from chalicelib.domain.call_end import end_call
from chalicelib.domain.errors import NotFound
from chalicelib.domain.unconnected import end_unconnected
from chalicelib.domain.whatsapp_calls import drop_media, find_call, unknown_call, whatsapp_details
from chalicelib.monitoring import controls
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.schemas.whatsapp import CallEvent, CallStatus
from chalicelib.whatsapp import hang_up
from chalicelib.whatsapp.config import WhatsAppConfig

EXPIRE_OP = "expire_whatsapp_call"
EXPIRY_MARGIN_S = 15
EXPIRED_STREAM = "whatsapp:not_answered"
"""What an expired call's ``media_stream_sid`` is claimed with, so no stream can join it afterwards."""


def expiry_message(call: Call) -> dict[str, Any]:
    return {"op": EXPIRE_OP, "account_id": call.account_id, "call_id": call.call_id}


def expiry_delay(config: WhatsAppConfig) -> int:
    return config.ring_timeout_s + EXPIRY_MARGIN_S


def status_changed(number: PhoneNumber, status: CallStatus) -> None:
    call = find_call(number, status.id)
    if call is None:
        unknown_call(status.timestamp, f"status {status.status}")
        logger.info("whatsapp status without a call", extra={"phone_number_id": number.phone_number_id})
        return
    upper = status.status.upper()
    if upper == "RINGING":
        if call_state.transition(call, "ringing", details={"carrier_status": "ringing"}).applied:
            monitoring.call_progressed(call, "ringing")
    elif upper == "REJECTED" and call.media_stream_sid is None:
        drop_media(call)
        end_call(call, "busy", {**whatsapp_details(call, status="REJECTED"), "reason": "the user rejected the call"})
    else:
        logger.info("whatsapp status", extra={"call_id": call.call_id, "status": upper})


def user_answered(number: PhoneNumber, event: CallEvent, config: WhatsAppConfig) -> None:
    """The user picked up a business call: their SDP answer goes to the task holding our offer."""
    call = find_call(number, event.id)
    if call is None and event.session is not None:
        unknown_call(event.timestamp, "answer")
    if event.session is None or call is None or call.status in call_state.TERMINAL:
        logger.info("whatsapp answer without a live call", extra={"phone_number_id": number.phone_number_id})
        return
    try:
        controls.send(call.account_id, call.call_id, {"type": "whatsapp_answer", "sdp": event.session.sdp})
    except (controls.NotLive, NotFound):
        logger.warning("whatsapp answer: no task holds the call", extra={"call_id": call.call_id})
        end_call(call, "failed", {"reason": "answered after the streaming task holding the offer was gone"})
        hang_up.terminate(call.account_id, call.call_id)
        return
    logger.info("whatsapp call answered by the user", extra={"call_id": call.call_id})


def expire_unanswered(message: dict[str, Any]) -> bool:
    """End a business call nobody answered (``no_answer``); True when this ended it."""
    try:
        call = Call.get(int(message["account_id"]), int(message["call_id"]), consistent_read=True)
    except Call.DoesNotExist:
        return False
    ended = end_unconnected(call, "no_answer", {"reason": "not answered"}, EXPIRED_STREAM)
    if ended:
        hang_up.terminate(call.account_id, call.call_id)
    logger.info("whatsapp call expiry", extra={"call_id": call.call_id, "ended": ended})
    return ended
