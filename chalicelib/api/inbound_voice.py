"""Twilio's webhooks for inbound calls on an imported number (signed, no API key): the voice webhook that
answers a call, and the number's status callback that reports how it ended."""
from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain.inbound_calls import answer, apply_number_status

bp = Blueprint(__name__)
SIGNATURE = {"X-Twilio-Signature": "HMAC-SHA1 of the URL and parameters with the number's auth token."}


class TwilioVoiceWebhook(BaseModel):
    """The fields of Twilio's voice webhook we read; every field sent is covered by the signature."""

    model_config = ConfigDict(extra="allow")
    CallSid: str = Field(min_length=1, max_length=64)
    From: str = Field(min_length=1, max_length=255, description="The caller (E.164, e.g. 'anonymous', or a SIP "
                      "URI from a SIP Domain).")
    To: str = Field(min_length=1, max_length=255, description="The number called (or sip:number@domain).")


class TwilioNumberStatus(BaseModel):
    """A number's call status callback; every field sent is covered by the signature."""

    model_config = ConfigDict(extra="allow")
    CallSid: str = Field(min_length=1, max_length=64)
    CallStatus: str = Field(min_length=1, max_length=32)
    CallDuration: str | None = Field(default=None, pattern=r"^[0-9]{1,7}$")


def _signature(req: ApiRequest) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == "x-twilio-signature"), None)


@api_route(bp, "/telephony/twilio/voice/{account_id}/{phone_number_id}", "POST", RouteSpec(
    "Twilio voice webhook of an imported number: answers an inbound call with TwiML (application/xml)",
    "Telephony", form=TwilioVoiceWebhook, responses={200: None}, public=True, headers=SIGNATURE,
    text_response="application/xml"))
def twilio_voice(req: ApiRequest, account_id: int, phone_number_id: int) -> Response:
    answered = answer(account_id, phone_number_id, req.raw_body, _signature(req))
    return Response(body=answered.twiml, status_code=200, headers={"Content-Type": "application/xml"})


@api_route(bp, "/telephony/twilio/number-status/{account_id}/{phone_number_id}", "POST", RouteSpec(
    "Twilio status callback of an imported number's inbound calls (authenticated by X-Twilio-Signature)",
    "Telephony", form=TwilioNumberStatus, responses={204: None}, public=True, headers=SIGNATURE))
def twilio_number_status(req: ApiRequest, account_id: int, phone_number_id: int) -> Response:
    apply_number_status(account_id, phone_number_id, req.raw_body, _signature(req))
    return Response(body="", status_code=204)
