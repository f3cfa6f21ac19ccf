"""Pointing an imported Twilio number's inbound webhooks at Parley (on import and on attach); for a SIP trunk
number, what to set on a Twilio SIP Domain by hand; for a WhatsApp number, what to set in the Meta app.

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
from chalicelib.whatsapp.config import webhook_url


def sip_domain_steps(number: PhoneNumber) -> InboundSetupOut:
    """A SIP trunk number: its calls reach Parley through a Twilio SIP Domain the customer points at it."""
    config = TwilioConfig.from_env()
    voice = twilio_numbers.voice_url(config, number.account_id, number.phone_number_id)
    status = twilio_numbers.number_status_url(config, number.account_id, number.phone_number_id)
    steps = (f"In the Twilio account {(number.settings or {}).get('twilio_account_sid')}, create a SIP Domain "
             f"(Voice > SIP Domains), set its Voice URL to {voice} (HTTP POST) and its Call Status Changes URL "
             f"to {status} (HTTP POST), allow your trunk's addresses in an IP Access Control List, and have your "
             f"trunk send calls for {number.number} to sip:{number.number}@<your-domain>.sip.twilio.com.")
    return InboundSetupOut(configured=False, voice_url=voice, status_callback=status, manual_steps=steps)


def whatsapp_steps(number: PhoneNumber) -> InboundSetupOut:
    """A WhatsApp number: what to set in the Meta app so its calls reach Parley (nothing can be set for the
    customer: the Callback URL belongs to the app)."""
    url = webhook_url(number.account_id, number.phone_number_id)
    verify_token = str((number.settings or {}).get("verify_token", ""))
    steps = (f"In your Meta app (WhatsApp > Configuration), set the Callback URL to {url} and the Verify token to "
             f"{verify_token}, subscribe the webhook field 'calls', and enable Calling on the number "
             f"{number.number} (WhatsApp Manager > Phone numbers > Call settings).")
    return InboundSetupOut(configured=False, voice_url=url, status_callback=url, manual_steps=steps)


def configure_inbound(number: PhoneNumber) -> InboundSetupOut | None:
    """Set the number's ``VoiceUrl`` and ``StatusCallback`` on Twilio; for a SIP number with a Twilio account,
    the SIP Domain steps to do by hand; for a WhatsApp number, the Meta app's settings; None for any other."""
    if number.provider == "whatsapp":
        return whatsapp_steps(number)
    if number.provider == "sip" and (number.settings or {}).get("twilio_account_sid"):
        return sip_domain_steps(number)
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
