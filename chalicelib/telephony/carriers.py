"""The carrier adapter this deployment dials through, chosen from configuration."""
from __future__ import annotations

import os

from chalicelib.telephony.adapter import NotConnected, TelephonyAdapter
from chalicelib.telephony.twilio import TwilioAdapter, TwilioConfig


def adapter_from_settings() -> TelephonyAdapter:
    """Twilio (or any Twilio-compatible API) unless ``PARLEY_TELEPHONY=none``."""
    if os.environ.get("PARLEY_TELEPHONY", "twilio") == "none":
        return NotConnected()
    return TwilioAdapter(TwilioConfig.from_env())
