"""Carrier status callbacks drive the call state machine (signature checked first)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.domain import call_state
from chalicelib.domain.call_end import end_call
from chalicelib.domain.carrier_tokens import OpenedTokens, twilio_auth_token
from chalicelib.domain.errors import Forbidden
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.telephony.twilio import STATUS_MAP, TwilioConfig, status_callback_url
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


def apply_twilio_status(account_id: int, call_id: int, params: Mapping[str, str], signature: str | None,
                        config: TwilioConfig | None = None, *, tokens: OpenedTokens | None = None) -> str:
    """Verify and apply one Twilio status callback; returns the call's status afterwards.

    Unsigned, forged and unknown (account, call) callbacks all raise the same ``BadSignature``, so the
    answer tells a caller nothing about which calls exist.
    """
    config = config or TwilioConfig.from_env()
    token = _callback_token(account_id, call_id, tokens) if signature else None
    url = status_callback_url(config, account_id, call_id)
    if token is None or not signature or not is_valid_signature(token, url, dict(params), signature):
        raise BadSignature(REFUSED)
    try:  # verified: now the call as it is, for the transition
        call = Call.get(account_id, call_id, consistent_read=True)
    except Call.DoesNotExist:
        raise BadSignature(REFUSED) from None
    if call.carrier_sid and params.get("CallSid") not in (None, call.carrier_sid):
        raise BadSignature("CallSid does not belong to this call")
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
