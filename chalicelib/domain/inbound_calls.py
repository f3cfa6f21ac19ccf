"""Inbound calls on a Twilio number, or a SIP trunk number reaching Twilio through a SIP Domain: the voice
webhook answers them, the number's status callback ends them.

Invariants:

* Nothing is read beyond the number, and nothing is written, before ``X-Twilio-Signature`` is checked with
  the number's own auth token against the number's webhook URL. An unknown (account, number) has no token,
  so its requests answer exactly like forged ones (``BadSignature``, 403).
* One inbound call per carrier ``CallSid``, and at most ``PARLEY_INBOUND_MAX_CONCURRENT`` live inbound calls per
  number, exactly: the call is created in one transaction with its ``CallSid`` claim and a slot on the number
  (``inbound_slots``). A retried webhook finds the call the first one created and answers it again; a call
  beyond the cap hears a busy message and nothing is written.
* A verified call to a number with no agent (or an agent whose ``call_type`` is ``Outgoing``: it only places
  calls) hears a short message and is not recorded.
* A connected call is recorded ``queued`` then moved to ``in_progress`` through the one state machine, with
  ``call_type`` ``Incoming``, the caller's number in ``call_context.caller_number`` and the carrier's
  ``CallSid``; from then on it lives like an outbound call (stream, transcript, end, post-call delivery).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.db.models import Agent, Call, PhoneNumber
from chalicelib.db.sequences import next_id
from chalicelib.domain import call_state
from chalicelib.domain.agents import agent_key
from chalicelib.domain.call_state import INCOMING
from chalicelib.domain.carrier_events import REFUSED, BadSignature, apply_status
from chalicelib.domain.carrier_tokens import OpenedTokens, twilio_auth_token
from chalicelib.domain.inbound_slots import NumberBusy, claimed_call, record_inbound
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.telephony import inbound_twiml, sip
from chalicelib.telephony.twilio import TwilioConfig, twiml_for
from chalicelib.telephony.twilio_numbers import number_status_url, voice_url
from chalicelib.telephony.twilio_signature import is_valid_signature

DEFAULT_MAX_CONCURRENT = 5


def max_concurrent() -> int:
    """Live inbound calls allowed per number (``PARLEY_INBOUND_MAX_CONCURRENT``, default 5)."""
    raw = os.environ.get("PARLEY_INBOUND_MAX_CONCURRENT", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_CONCURRENT


@dataclass(frozen=True)
class Answer:
    """The TwiML for the carrier, and the call it connects (None: a message was played, nothing recorded)."""

    twiml: str
    call_id: int | None = None


def _verified_number(account_id: int, phone_number_id: int, url: str, params: Mapping[str, str],
                     signature: str | None, tokens: OpenedTokens | None) -> PhoneNumber:
    number = None
    if signature:
        try:
            number = PhoneNumber.get(account_id, phone_number_id)
        except PhoneNumber.DoesNotExist:
            number = None
    token = twilio_auth_token(account_id, phone_number_id, number.sealed_credentials, tokens) \
        if number is not None and number.provider in ("twilio", "sip") else ""
    if number is None or not token or not is_valid_signature(token, url, dict(params), signature):
        raise BadSignature(REFUSED)
    return number


def answering_agent(number: PhoneNumber) -> Agent | None:
    if number.agent_id is None:
        return None
    try:
        agent = Agent.get(number.account_id, number.agent_id)
    except Agent.DoesNotExist:
        return None
    return None if (agent.config or {}).get("call_type") == "Outgoing" else agent


def answer(account_id: int, phone_number_id: int, params: Mapping[str, str], signature: str | None,
           config: TwilioConfig | None = None, *, tokens: OpenedTokens | None = None) -> Answer:
    """Verify Twilio's voice webhook for a number and decide what the caller hears (see the module docstring)."""
    config = config or TwilioConfig.from_env()
    number = _verified_number(account_id, phone_number_id, voice_url(config, account_id, phone_number_id),
                              params, signature, tokens)
    # A SIP Domain's webhook carries To/From as SIP URIs: the numbers are their user parts.
    call_sid, caller, called = params.get("CallSid", ""), sip.number_in(params.get("From", "")), \
        sip.number_in(params.get("To", ""))
    agent = answering_agent(number)
    if agent is None or called != number.number:
        logger.info("inbound call not answered", extra={"phone_number_id": phone_number_id,
                                                        "reason": "no agent" if agent is None else "other number"})
        return Answer(inbound_twiml.say_and_hang_up(inbound_twiml.NOT_IN_SERVICE))
    call = Call(account_id, next_id("call"), agent_key=agent_key(account_id, agent.agent_id), agent_id=agent.agent_id,
                to_number=number.number, from_number_id=phone_number_id, status="queued", channel="phone",
                call_type=INCOMING, carrier_sid=call_sid, call_context={"caller_number": caller},
                details={"direction": "inbound", "caller_number": caller, "called_number": called},
                active_account=account_id)
    try:
        recorded = record_inbound(call, carrier_key(call_sid), max_concurrent())
    except NumberBusy:
        logger.info("inbound call busy", extra={"phone_number_id": phone_number_id})
        return Answer(inbound_twiml.say_and_hang_up(inbound_twiml.BUSY))
    if not recorded.created:
        return Answer(twiml_for(config, recorded.call), recorded.call.call_id)
    monitoring.call_queued(call)
    call_state.transition(call, "in_progress", details={"carrier_status": "in-progress"})
    logger.info("inbound call answered", extra={"call_id": call.call_id, "phone_number_id": phone_number_id})
    return Answer(twiml_for(config, call), call.call_id)


def apply_number_status(account_id: int, phone_number_id: int, params: Mapping[str, str], signature: str | None,
                        config: TwilioConfig | None = None, *, tokens: OpenedTokens | None = None) -> str | None:
    """Verify a number's status callback and apply it to the inbound call with that ``CallSid``.

    Returns the call's status afterwards, or None when no live inbound call has that ``CallSid`` (a call that
    was only told a message, or one already ended): nothing to change.
    """
    config = config or TwilioConfig.from_env()
    _verified_number(account_id, phone_number_id, number_status_url(config, account_id, phone_number_id),
                     params, signature, tokens)
    call = claimed_call(carrier_key(params.get("CallSid", "")))
    if call is None or (call.account_id, call.from_number_id) != (account_id, phone_number_id) \
            or call.status in call_state.TERMINAL:
        return None
    return apply_status(call, params)


def carrier_key(call_sid: str) -> str:
    """The claim that makes one inbound call per Twilio ``CallSid``."""
    return f"twilio-call#{call_sid}"

