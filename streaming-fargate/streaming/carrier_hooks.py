"""The call record's side of WhatsApp calls, as :class:`streaming.call_core.Lifecycle` wires it in AWS.

Both are blocking (DynamoDB, the Graph API) and run in worker threads. The Graph side lives in the API's
package (``chalicelib.whatsapp.hang_up``); it is imported when first used, so this service starts (and its
other calls work) with an API package that does not have it.
"""
from __future__ import annotations

from chalicelib.domain import call_media
from chalicelib.domain.call_media import Admission


def hold(account_id: int, call_id: int, task_id: str) -> None:
    """The streaming task ``task_id`` holds a call it has not admitted yet (a WhatsApp offer ringing the user):
    controls for the call (``whatsapp_answer``, ``caller_hung_up``) go to it.

    ``call_media.held`` reads only the call's keys from its admission; the rest of this one is empty."""
    pending = Admission(account_id=account_id, call_id=call_id, agent_id=0, agent_name="", agent_config={},
                        call_context={}, to_number="", bulk_call_id=None, stream_sid="")
    call_media.held(pending, task_id)


def hang_up_whatsapp(admission: Admission) -> None:
    """Ask WhatsApp to end the call (Graph ``terminate``): this side ended it."""
    from chalicelib.whatsapp.hang_up import terminate  # the API side's module (docs/whatsapp-calls.md section 5)

    terminate(admission.account_id, admission.call_id)
