"""Pointing an imported Twilio number's inbound webhooks at Parley (on import and on attach).

Detaching leaves the webhooks in place on purpose: the number keeps reaching Parley, which answers
"not in service" until an agent is attached again (no carrier call, nothing to undo on re-attach).
With ``PARLEY_TELEPHONY=none`` there is no carrier to configure and nothing is attempted.
"""
from __future__ import annotations

import os

from chalicelib.db.models import PhoneNumber
from chalicelib.observability import logger
from chalicelib.schemas.phone_numbers import InboundSetupOut
from chalicelib.secrets_box import secret_box_from_settings
from chalicelib.telephony import twilio_numbers
from chalicelib.telephony.twilio import TwilioConfig


def configure_inbound(number: PhoneNumber) -> InboundSetupOut | None:
    """Set the number's ``VoiceUrl`` and ``StatusCallback`` on Twilio; None for a number that is not Twilio's."""
    if number.provider != "twilio" or not number.sealed_credentials or \
            os.environ.get("PARLEY_TELEPHONY", "twilio") == "none":
        return None
    secrets = secret_box_from_settings().open(number.sealed_credentials, account_id=number.account_id)
    setup = twilio_numbers.configure(TwilioConfig.from_env(), str(secrets["account_sid"]), str(secrets["auth_token"]),
                                     number.number, number.account_id, number.phone_number_id)
    if not setup.configured:
        logger.info("inbound webhooks not configured", extra={"phone_number_id": number.phone_number_id,
                                                              "reason": setup.manual_steps})
    return InboundSetupOut.model_validate(setup.to_json())
