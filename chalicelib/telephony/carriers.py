"""The carrier adapter this deployment dials through, chosen from configuration and the number's provider."""
from __future__ import annotations

import os

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.telephony.adapter import NotConnected, Placement, TelephonyAdapter
from chalicelib.telephony.twilio import TwilioAdapter, TwilioConfig
from chalicelib.telephony.whatsapp import WhatsAppAdapter
from chalicelib.whatsapp.config import WhatsAppConfig


class ByProvider:
    """WhatsApp numbers through the WhatsApp adapter (made when first needed); every other number through
    ``default``."""

    def __init__(self, default: TelephonyAdapter, whatsapp: TelephonyAdapter | None = None) -> None:
        self._default = default
        self._whatsapp = whatsapp

    def place_call(self, call: Call, from_number: PhoneNumber, machine_detection: bool = False) -> Placement:
        if from_number.provider != "whatsapp":
            return self._default.place_call(call, from_number, machine_detection=machine_detection)
        if self._whatsapp is None:
            self._whatsapp = WhatsAppAdapter(WhatsAppConfig.from_env())
        return self._whatsapp.place_call(call, from_number, machine_detection=machine_detection)


def adapter_from_settings() -> TelephonyAdapter:
    """Twilio (or any Twilio-compatible API) unless ``PARLEY_TELEPHONY=none``; WhatsApp numbers through the Graph
    API in either case (their calls need no carrier)."""
    if os.environ.get("PARLEY_TELEPHONY", "twilio") == "none":
        return ByProvider(NotConnected())
    return ByProvider(TwilioAdapter(TwilioConfig.from_env()))
