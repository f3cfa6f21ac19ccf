"""Carrier status callbacks drive the call state machine (signature checked first)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.domain import call_state
from chalicelib.domain.call_end import end_call
from chalicelib.domain.carrier_tokens import OpenedTokens, twilio_auth_token
from chalicelib.domain.errors import DomainError, Forbidden
from chalicelib.monitoring import controls
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.telephony.twilio import STATUS_MAP, TwilioConfig, amd_callback_url, status_callback_url
from chalicelib.telephony.twilio_signature import is_valid_signature


class BadSignature(Forbidden):
    code = "invalid_signature"


REFUSED = "X-Twilio-Signature does not match this callback"
"""The one answer to a callback that is unsigned, forged, or for an account or call that does not exist."""


def _callback_token(account_id: int, call_id: int, tokens: OpenedTokens | None) -> str | None:
    """The auth token the callback must be signed with, or None when there is no such call or number.

    Cheap on purpose (it runs before the signature is checked): eventually consistent reads (the call's
    number never changes) and the token from the per-process cache (no KMS call while it is fresh).
    """
    try:
        found = Call.get(account_id, call_id, attributes_to_get=["from_number_id"])
        if found.from_number_id is None:
            return None
        number = PhoneNumber.get(account_id, found.from_number_id, attributes_to_get=["sealed_credentials"])
    except (Call.DoesNotExist, PhoneNumber.DoesNotExist):
        return None
    return twilio_auth_token(account_id, int(found.from_number_id), number.sealed_credentials, tokens) or None


def _verified_call(account_id: int, call_id: int, params: Mapping[str, str], signature: str | None, url: str,
                   tokens: OpenedTokens | None) -> Call:
    """The call a callback to ``url`` is about, once its signature is checked (``BadSignature`` otherwise)."""
    token = _callback_token(account_id, call_id, tokens) if signature else None
    if token is None or not signature or not is_valid_signature(token, url, dict(params), signature):
        raise BadSignature(REFUSED)
    try:  # verified: now the call as it is
        call = Call.get(account_id, call_id, consistent_read=True)
    except Call.DoesNotExist:
        raise BadSignature(REFUSED) from None
    if call.carrier_sid and params.get("CallSid") not in (None, call.carrier_sid):
        raise BadSignature("CallSid does not belong to this call")
    return call


def apply_twilio_amd(account_id: int, call_id: int, params: Mapping[str, str], signature: str | None,
                     config: TwilioConfig | None = None, *, tokens: OpenedTokens | None = None) -> str:
    """Verify and apply an async answering-machine-detection result; returns ``AnsweredBy``.

    It is recorded on the call (``details.answered_by``). A machine whose greeting has ended
    (``machine_end_*``) gets the agent's voicemail message: the streaming task holding the call is told
    (the same way supervisor controls reach it) to stop, leave the message and hang up.
    """
    config = config or TwilioConfig.from_env()
    call = _verified_call(account_id, call_id, params, signature, amd_callback_url(config, account_id, call_id),
                          tokens)
    answered_by = params.get("AnsweredBy", "unknown")
    details = {**(call.details or {}), "answered_by": answered_by}
    if params.get("MachineDetectionDuration", "").isdigit():
        details["machine_detection_ms"] = int(params["MachineDetectionDuration"])
    call.update(actions=[Call.details.set(details)])
    logger.info("answering machine detection", extra={"call_id": call_id, "answered_by": answered_by})
    if answered_by.startswith("machine_end"):
        try:
            controls.send(account_id, call_id, {"type": "voicemail"})
        except DomainError as error:  # the conversation is not live (yet, or any more): nothing to leave
            logger.info("voicemail not left", extra={"call_id": call_id, "reason": error.description})
    return answered_by


def apply_twilio_status(account_id: int, call_id: int, params: Mapping[str, str], signature: str | None,
                        config: TwilioConfig | None = None, *, tokens: OpenedTokens | None = None) -> str:
    """Verify and apply one Twilio status callback; returns the call's status afterwards.

    Unsigned, forged and unknown (account, call) callbacks all raise the same ``BadSignature``, so the
    answer tells a caller nothing about which calls exist.
    """
    config = config or TwilioConfig.from_env()
    call = _verified_call(account_id, call_id, params, signature, status_callback_url(config, account_id, call_id),
                          tokens)
    return apply_status(call, params)


def apply_status(call: Call, params: Mapping[str, str]) -> str:
    """Apply a verified Twilio status callback to ``call``; returns the call's status afterwards."""
    call_id = call.call_id
    carrier_status = params.get("CallStatus", "")
    status = STATUS_MAP.get(carrier_status)
    logger.info("carrier status", extra={"call_id": call_id, "carrier_status": carrier_status})
    if status is None:
        return call.status
    details: dict[str, Any] = {"carrier_status": carrier_status}
    if params.get("CallDuration"):
        details["duration_seconds"] = int(params["CallDuration"])
    if status in call_state.TERMINAL:
        if carrier_status == "canceled":
            details["reason"] = "canceled"
        return end_call(call, status, details).status
    outcome = call_state.transition(call, status, details=details)
    if outcome.applied:
        monitoring.call_progressed(call, status)
    return outcome.status
