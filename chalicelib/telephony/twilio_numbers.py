"""A Twilio number's inbound webhooks: where Parley wants them, and setting them through ``IncomingPhoneNumbers``.

Twilio's API: ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=...`` finds the
number's SID; ``POST .../IncomingPhoneNumbers/{Sid}.json`` with ``VoiceUrl``, ``VoiceMethod``,
``StatusCallback`` and ``StatusCallbackMethod`` sets them. When the account refuses (a restricted API key,
a number that is not in it, no network), :class:`InboundSetup` says what to set by hand instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests

from chalicelib.telephony.twilio import TwilioConfig

API_VERSION = "2010-04-01"


def voice_url(config: TwilioConfig, account_id: int, phone_number_id: int) -> str:
    """The number's ``VoiceUrl``: Twilio asks it what to do with each inbound call."""
    return f"{config.public_api_url}/api/v1/telephony/twilio/voice/{account_id}/{phone_number_id}"


def number_status_url(config: TwilioConfig, account_id: int, phone_number_id: int) -> str:
    """The number's ``StatusCallback``: Twilio reports there how each inbound call ended."""
    return f"{config.public_api_url}/api/v1/telephony/twilio/number-status/{account_id}/{phone_number_id}"


@dataclass(frozen=True)
class InboundSetup:
    """What configuring the number's webhooks did: ``configured``, or ``manual_steps`` to do by hand."""

    configured: bool
    voice_url: str
    status_callback: str
    manual_steps: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"configured": self.configured, "voice_url": self.voice_url,
                "status_callback": self.status_callback, "manual_steps": self.manual_steps}


def configure(config: TwilioConfig, account_sid: str, auth_token: str, number: str, account_id: int,
              phone_number_id: int, *, session: requests.Session | None = None,
              timeout: float = 10.0) -> InboundSetup:
    """Point ``number``'s voice webhook and status callback at Parley; never raises for a carrier's refusal."""
    wanted_voice = voice_url(config, account_id, phone_number_id)
    wanted_status = number_status_url(config, account_id, phone_number_id)
    http = session or requests.Session()
    base = f"{config.api_url}/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers"
    try:
        found = http.get(f"{base}.json", params={"PhoneNumber": number}, auth=(account_sid, auth_token),
                         timeout=timeout)
        problem = _refusal(found)
        if problem is None:
            listed = found.json().get("incoming_phone_numbers") or []
            if not listed:
                problem = f"{number} is not a number of Twilio account {account_sid}"
            else:
                updated = http.post(f"{base}/{listed[0]['sid']}.json", auth=(account_sid, auth_token), data={
                    "VoiceUrl": wanted_voice, "VoiceMethod": "POST",
                    "StatusCallback": wanted_status, "StatusCallbackMethod": "POST"}, timeout=timeout)
                problem = _refusal(updated)
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"Twilio could not be reached or answered unexpectedly ({type(error).__name__})"
    if problem is None:
        return InboundSetup(True, wanted_voice, wanted_status)
    steps = (f"Parley could not configure {number} on Twilio: {problem}. In the Twilio console, under Phone "
             f"Numbers > {number} > Voice Configuration, set 'A call comes in' to Webhook {wanted_voice} "
             f"(HTTP POST) and 'Call status changes' to {wanted_status} (HTTP POST).")
    return InboundSetup(False, wanted_voice, wanted_status, steps)


def _refusal(response: requests.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        detail = str(response.json().get("message", ""))
    except ValueError:
        detail = ""
    return f"Twilio answered {response.status_code}" + (f" ({detail[:200]})" if detail else "")
