"""Carrier status callbacks drive the call state machine (signature checked first)."""
from __future__ import annotations

from collections.abc import Mapping

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.domain import call_state, dialer
from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.observability import logger
from chalicelib.secrets_box import secret_box_from_settings
from chalicelib.telephony.twilio import STATUS_MAP, TwilioConfig, status_callback_url
from chalicelib.telephony.twilio_signature import is_valid_signature


class BadSignature(Forbidden):
    code = "invalid_signature"


def apply_twilio_status(account_id: int, call_id: int, params: Mapping[str, str], signature: str | None,
                        config: TwilioConfig | None = None) -> str:
    """Verify and apply one Twilio status callback; returns the call's status afterwards."""
    config = config or TwilioConfig.from_env()
    try:
        call = Call.get(account_id, call_id, consistent_read=True)
        number = PhoneNumber.get(account_id, call.from_number_id)
    except (Call.DoesNotExist, PhoneNumber.DoesNotExist):
        raise NotFound("no such call", field="call_id") from None
    token = secret_box_from_settings().open(number.sealed_credentials, account_id=account_id).get("auth_token", "")
    url = status_callback_url(config, account_id, call_id)
    if not signature or not is_valid_signature(token, url, dict(params), signature):
        raise BadSignature("X-Twilio-Signature does not match this callback")
    if call.carrier_sid and params.get("CallSid") not in (None, call.carrier_sid):
        raise BadSignature("CallSid does not belong to this call")
    carrier_status = params.get("CallStatus", "")
    status = STATUS_MAP.get(carrier_status)
    logger.info("carrier status", extra={"call_id": call_id, "carrier_status": carrier_status})
    if status is None:
        return call.status
    details = {"carrier_status": carrier_status}
    if params.get("CallDuration"):
        details["duration_seconds"] = int(params["CallDuration"])
    if status in call_state.TERMINAL:
        if carrier_status == "canceled":
            details["reason"] = "canceled"
        return dialer.finish(call, status, details).status
    return call_state.transition(call, status, details=details).status
