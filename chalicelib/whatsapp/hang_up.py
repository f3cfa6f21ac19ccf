"""Hanging up a WhatsApp call from Parley's side: Graph ``terminate`` for the call's wacid.

The streaming service calls :func:`terminate` when a call ends for any reason other than the user (the agent,
a supervisor, max duration, idle, shutdown); the API calls it for a business call nobody answered. It needs
read access to the call and its phone number and decrypt on the secrets key. It never raises: a failure is
logged (safely: no token) and answered ``False``.
"""
from __future__ import annotations

from chalicelib.db.models import Call, PhoneNumber
from chalicelib.observability import logger
from chalicelib.whatsapp.config import graph_api_url
from chalicelib.whatsapp.credentials import graph_for

CHANNEL = "whatsapp"
NUMBER_ATTRIBUTES = ("account_id", "phone_number_id", "provider", "settings", "sealed_credentials")
"""All the streaming task's role may read of a number (``parley_infra.whatsapp_media``)."""


def terminate(account_id: int, call_id: int) -> bool:
    """Ask WhatsApp to end the call; True when Graph accepted it."""
    try:
        call = Call.get(account_id, call_id)
        if call.channel != CHANNEL or not call.carrier_sid or call.from_number_id is None:
            logger.warning("whatsapp terminate: not a placed WhatsApp call", extra={"call_id": call_id})
            return False
        number = PhoneNumber.get(account_id, call.from_number_id, attributes_to_get=list(NUMBER_ATTRIBUTES))
        graph_for(number, graph_api_url()).terminate(call.carrier_sid)
    except Exception as error:  # any failure (no such call, KMS, Graph) is the caller's "no", never an exception
        logger.warning("whatsapp terminate failed", extra={"call_id": call_id, "error": str(error)[:300],
                                                           "kind": type(error).__name__})
        return False
    logger.info("whatsapp call terminated", extra={"call_id": call_id})
    return True
