"""Twilio's callbacks (signed, no API key): call status, and asynchronous answering machine detection."""
from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain.carrier_events import apply_twilio_amd, apply_twilio_status

bp = Blueprint(__name__)


class TwilioStatusCallback(BaseModel):
    """The fields of a Twilio call status callback we read; every field sent is covered by the signature."""

    model_config = ConfigDict(extra="allow")
    CallSid: str = Field(min_length=1, max_length=64)
    CallStatus: str = Field(min_length=1, max_length=32)
    CallDuration: str | None = Field(default=None, pattern=r"^[0-9]{1,7}$")


@api_route(bp, "/telephony/twilio/status/{account_id}/{call_id}", "POST", RouteSpec(
    "Twilio status callback (authenticated by X-Twilio-Signature)", "Telephony", form=TwilioStatusCallback,
    responses={204: None}, public=True,
    headers={"X-Twilio-Signature": "HMAC-SHA1 of the URL and parameters with the number's auth token."}))
def twilio_status(req: ApiRequest, account_id: int, call_id: int) -> Response:
    signature = next((v for k, v in req.headers.items() if k.lower() == "x-twilio-signature"), None)
    apply_twilio_status(account_id, call_id, req.raw_body, signature)
    return Response(body="", status_code=204)


class TwilioAmdCallback(BaseModel):
    """An async AMD result (``AsyncAmdStatusCallback``); every field sent is covered by the signature."""

    model_config = ConfigDict(extra="allow")
    CallSid: str = Field(min_length=1, max_length=64)
    AnsweredBy: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")


@api_route(bp, "/telephony/twilio/amd/{account_id}/{call_id}", "POST", RouteSpec(
    "Twilio answering machine detection result (authenticated by X-Twilio-Signature)", "Telephony",
    form=TwilioAmdCallback, responses={204: None}, public=True,
    headers={"X-Twilio-Signature": "HMAC-SHA1 of the URL and parameters with the number's auth token."}))
def twilio_amd(req: ApiRequest, account_id: int, call_id: int) -> Response:
    signature = next((v for k, v in req.headers.items() if k.lower() == "x-twilio-signature"), None)
    apply_twilio_amd(account_id, call_id, req.raw_body, signature)
    return Response(body="", status_code=204)
