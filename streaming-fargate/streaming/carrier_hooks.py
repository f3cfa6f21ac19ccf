"""Hanging up a WhatsApp call this side ended, as :class:`streaming.call_core.Lifecycle` wires it in AWS.

Blocking (SQS), run in a worker thread. The hang-up is queued for the campaign-operations
worker (``chalicelib.whatsapp.hang_up``), which holds the number's Graph token: this service opens no sealed
carrier credential.
"""
from __future__ import annotations

from chalicelib.domain.call_media import Admission
from chalicelib.whatsapp import hang_up


def hang_up_whatsapp(admission: Admission) -> None:
    """Ask WhatsApp to end the call (Graph ``terminate``, by the campaign-operations worker): this side ended it."""
    hang_up.request(admission.account_id, admission.call_id)
