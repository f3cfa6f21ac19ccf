"""The Twilio stand-in's ``IncomingPhoneNumbers``: each account's numbers and their voice webhooks.

Like the rest of the simulator it is permissive: any E.164 number an account asks about is one of its numbers
(created on first sight, with a stable ``PN...`` SID). Twilio's ``VoiceUrl``, ``VoiceMethod``,
``StatusCallback`` and ``StatusCallbackMethod`` can be set; the auth token of the request that set them signs
the webhooks of the number's inbound calls, as the account's token would at Twilio.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.carrier_sim.calls import API_VERSION, E164
from devstack.carrier_sim.rest import TwilioError, first, is_http_url, not_found


@dataclass
class SimNumber:
    sid: str
    account_sid: str
    phone_number: str
    auth_token: str = field(repr=False)
    voice_url: str | None = None
    voice_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"

    def resource(self) -> dict[str, Any]:
        return {"sid": self.sid, "account_sid": self.account_sid, "phone_number": self.phone_number,
                "friendly_name": self.phone_number, "api_version": API_VERSION,
                "voice_url": self.voice_url, "voice_method": self.voice_method,
                "status_callback": self.status_callback, "status_callback_method": self.status_callback_method,
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{self.sid}.json"}


def number_sid(account_sid: str, phone_number: str) -> str:
    return "PN" + hashlib.sha256(f"{account_sid}:{phone_number}".encode()).hexdigest()[:32]


class NumberRegistry:
    """Numbers by SID (not thread-safe: the simulator calls it under its lock)."""

    def __init__(self) -> None:
        self._numbers: dict[str, SimNumber] = {}

    def listing(self, account_sid: str, auth_token: str, phone_number: str | None) -> dict[str, Any]:
        """``GET IncomingPhoneNumbers.json[?PhoneNumber=...]``: the account's numbers (that one, created if new)."""
        if phone_number is not None:
            if not E164.match(phone_number):
                raise TwilioError(400, 21421, f"PhoneNumber is invalid: {phone_number}")
            sid = number_sid(account_sid, phone_number)
            self._numbers.setdefault(sid, SimNumber(sid, account_sid, phone_number, auth_token))
        found = [n.resource() for n in self._numbers.values()
                 if n.account_sid == account_sid and phone_number in (None, n.phone_number)]
        return {"incoming_phone_numbers": found, "page": 0, "page_size": 50,
                "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json"}

    def update(self, account_sid: str, auth_token: str, sid: str, path: str,
               form: Mapping[str, list[str]]) -> dict[str, Any]:
        """``POST IncomingPhoneNumbers/{Sid}.json``: set the voice webhook and status callback."""
        number = self._numbers.get(sid)
        if number is None or number.account_sid != account_sid:
            raise not_found(path)
        for name in ("VoiceUrl", "StatusCallback"):
            value = first(form, name)
            if value and not is_http_url(value):
                raise TwilioError(400, 21502 if name == "VoiceUrl" else 21609, f"{name} is not a valid URL: {value}")
        for name in ("VoiceMethod", "StatusCallbackMethod"):
            value = (first(form, name) or "POST").upper()
            if value not in ("GET", "POST"):
                raise TwilioError(400, 20001, f"{name} must be GET or POST, got {value}")
        number.auth_token = auth_token
        number.voice_url = first(form, "VoiceUrl") if "VoiceUrl" in form else number.voice_url
        number.voice_method = (first(form, "VoiceMethod") or number.voice_method).upper()
        if "StatusCallback" in form:
            number.status_callback = first(form, "StatusCallback") or None
        number.status_callback_method = (first(form, "StatusCallbackMethod") or number.status_callback_method).upper()
        return number.resource()

    def by_number(self, phone_number: str) -> SimNumber | None:
        """The number with a voice webhook that answers calls to ``phone_number`` (the latest configured)."""
        configured = [n for n in self._numbers.values() if n.phone_number == phone_number and n.voice_url]
        return configured[-1] if configured else None

    def clear(self) -> None:
        self._numbers.clear()
