"""Hanging up a WhatsApp call from Parley's side: Graph ``terminate`` for the call's wacid.

When a call ends for any reason other than the user (the agent, a supervisor, max duration, idle, shutdown), the
streaming service :func:`request`\\ s it: a ``whatsapp_hang_up`` message on the campaign-operations queue, whose
worker (:func:`handle`) runs :func:`terminate`. So the streaming task never opens a number's sealed credentials;
the worker, which already does for unanswered calls, does. :func:`terminate` needs read access to the call and
its phone number and decrypt on the secrets key. It never raises: a failure is logged (safely: no token) and
answered ``False``; it is not retried (a call the user already ended answers Graph 400 anyway).
"""
from __future__ import annotations

from typing import Any

from chalicelib import queues
from chalicelib.db.models import Call, PhoneNumber
from chalicelib.observability import logger
from chalicelib.whatsapp.config import graph_api_url
from chalicelib.whatsapp.credentials import graph_for

CHANNEL = "whatsapp"
HANG_UP_OP = "whatsapp_hang_up"
HANG_UP_DELAY_S = 2
"""The queued hang-up waits this long, so a call the user ended (WhatsApp's ``terminate`` webhook, which often comes
just after the media closed) is seen as ended and not terminated again."""


def request(account_id: int, call_id: int) -> None:
    """Queue the hang-up of a WhatsApp call (for the campaign-operations worker)."""
    queues.send(queues.CAMPAIGN_OPS, {"op": HANG_UP_OP, "account_id": account_id, "call_id": call_id},
                delay_seconds=HANG_UP_DELAY_S)


def handle(message: dict[str, Any]) -> bool:
    """A queued hang-up: terminate the call it names."""
    return terminate(int(message["account_id"]), int(message["call_id"]))


def terminate(account_id: int, call_id: int) -> bool:
    """Ask WhatsApp to end the call; True when Graph accepted it."""
    try:
        call = Call.get(account_id, call_id)
        if call.channel != CHANNEL or not call.carrier_sid or call.from_number_id is None:
            logger.warning("whatsapp terminate: not a placed WhatsApp call", extra={"call_id": call_id})
            return False
        if ((call.details or {}).get("whatsapp") or {}).get("status"):
            logger.info("whatsapp call already ended by WhatsApp", extra={"call_id": call_id})
            return True
        number = PhoneNumber.get(account_id, call.from_number_id)
        graph_for(number, graph_api_url()).terminate(call.carrier_sid)
    except Exception as error:  # any failure (no such call, KMS, Graph) is the caller's "no", never an exception
        logger.warning("whatsapp terminate failed", extra={"call_id": call_id, "error": str(error)[:300],
                                                           "kind": type(error).__name__})
        return False
    logger.info("whatsapp call terminated", extra={"call_id": call_id})
    return True
