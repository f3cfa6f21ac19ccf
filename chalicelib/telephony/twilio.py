"""Twilio adapter: places calls with the REST API (``Calls.json``) and reads status callbacks.

A SIP trunk number's calls go through the same API from the Twilio account given at its import: ``To`` is the
trunk's ``sip:`` URI (``chalicelib.telephony.sip``) with ``SipAuthUsername``/``SipAuthPassword``, ``From`` the
imported number (the caller id the trunk sees); the media path is the same Media Stream.

Any Twilio-compatible carrier works: the API base URL is ``PARLEY_TWILIO_API_URL`` (default the real
Twilio API), and the public URLs put in TwiML and callbacks come from configuration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import requests

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.secrets_box import SecretBox, secret_box_from_settings
from chalicelib.telephony import sip, stream_tokens
from chalicelib.telephony.adapter import Placement

TWILIO_API_URL = "https://api.twilio.com"
# "initiated" is not requested: it tells us nothing the REST answer did not.
CALLBACK_EVENTS = ("ringing", "answered", "completed")
# Twilio CallStatus -> our call status (None: no change for us).
STATUS_MAP: dict[str, str | None] = {
    "queued": None, "initiated": None, "ringing": "ringing", "in-progress": "in_progress",
    "completed": "completed", "busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "failed",
}


class CarrierRefused(Exception):
    """The carrier answered the placement with an error."""


@dataclass(frozen=True)
class TwilioConfig:
    api_url: str
    public_api_url: str
    streaming_url: str
    stream_token_secret: str

    @classmethod
    def from_env(cls) -> TwilioConfig:
        return cls(
            api_url=os.environ.get("PARLEY_TWILIO_API_URL", TWILIO_API_URL).rstrip("/"),
            public_api_url=os.environ.get("PARLEY_PUBLIC_API_URL", "http://127.0.0.1:8600").rstrip("/"),
            streaming_url=os.environ.get("PARLEY_STREAMING_URL", "wss://127.0.0.1:8700/twilio"),
            stream_token_secret=stream_tokens.configured_secret(),
        )




def status_callback_url(config: TwilioConfig, account_id: int, call_id: int) -> str:
    return f"{config.public_api_url}/api/v1/telephony/twilio/status/{account_id}/{call_id}"


def amd_callback_url(config: TwilioConfig, account_id: int, call_id: int) -> str:
    return f"{config.public_api_url}/api/v1/telephony/twilio/amd/{account_id}/{call_id}"


def twiml_for(config: TwilioConfig, call: Call) -> str:
    token = stream_tokens.issue(config.stream_token_secret, call.account_id, call.call_id)
    params = {"call_id": str(call.call_id), "token": token}
    parameters = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in params.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f"<Stream url={quoteattr(config.streaming_url)}>{parameters}</Stream></Connect></Response>")


class TwilioAdapter:
    def __init__(self, config: TwilioConfig, box: SecretBox | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        if not config.stream_token_secret:
            raise RuntimeError("PARLEY_STREAM_TOKEN_SECRET is not set")
        self._config = config
        self._box = box or secret_box_from_settings()
        self._http = session or requests.Session()
        self._timeout = timeout

    @staticmethod
    def destination(call: Call, from_number: PhoneNumber, secrets: dict[str, Any]) -> dict[str, str]:
        """``To`` (and for a SIP trunk number its ``SipAuth*``, from the number's opened ``secrets``): a phone
        number, or the trunk's ``sip:`` URI."""
        if from_number.provider != "sip":
            return {"To": call.to_number}
        settings = from_number.settings or {}
        refusal = sip.host_refusal(str(settings.get("sip_host", "")), int(settings.get("sip_port") or sip.DEFAULT_PORT))
        if refusal is not None:  # checked at import too; DNS may have changed since
            raise CarrierRefused(f"SIP host refused: {refusal}")
        to = {"To": sip.sip_uri(call.to_number, settings)}
        if settings.get("sip_username"):
            to.update({"SipAuthUsername": str(settings["sip_username"]),
                       "SipAuthPassword": str(secrets.get("sip_password", ""))})
        return to

    def place_call(self, call: Call, from_number: PhoneNumber, machine_detection: bool = False) -> Placement:
        secrets = self._box.open(from_number.sealed_credentials, account_id=from_number.account_id)
        sid, token = secrets["account_sid"], secrets["auth_token"]  # opened once: a SIP trunk's password is there too
        data: dict[str, Any] = {
            **self.destination(call, from_number, secrets), "From": from_number.number,
            "Twiml": twiml_for(self._config, call),
            "StatusCallback": status_callback_url(self._config, call.account_id, call.call_id),
            "StatusCallbackMethod": "POST", "StatusCallbackEvent": list(CALLBACK_EVENTS), "Timeout": "30"}
        if machine_detection:  # async AMD: the call connects at once; the verdict comes to its own callback
            data.update({"MachineDetection": "DetectMessageEnd", "AsyncAmd": "true",
                         "AsyncAmdStatusCallback": amd_callback_url(self._config, call.account_id, call.call_id),
                         "AsyncAmdStatusCallbackMethod": "POST"})
        response = self._http.post(f"{self._config.api_url}/2010-04-01/Accounts/{sid}/Calls.json",
                                   auth=(sid, token), data=data, timeout=self._timeout)
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            raise CarrierRefused(f"carrier answered {response.status_code}: {detail}"[:300])
        return Placement(status="queued", message="call placed with the carrier", carrier_sid=response.json()["sid"])
