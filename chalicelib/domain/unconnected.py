"""Ending a call no media stream ever joined (a web call whose page never sent its offer, a WhatsApp call nobody
answered): the delayed check queued when the call was created calls :func:`end_unconnected`."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.db.models import Call
from chalicelib.domain import call_completed
from chalicelib.domain.call_end import end_call
from chalicelib.domain.call_state import TERMINAL


def end_unconnected(call: Call, status: str, details: dict[str, Any], marker: str) -> bool:
    """End ``call`` with ``status`` unless a media stream joined it; True when this ended it.

    The call is first claimed for no stream (``media_stream_sid`` = ``marker``, under the same condition as
    admission), so a call that connected is left alone and one that did not can no longer be joined. No stream
    will finalize it, so ``call.completed`` is announced here (once per call: a redelivered message whose first
    try could not put it tries again).
    """
    if call.media_stream_sid is None:
        if call.status in TERMINAL:
            return False
        try:
            call.update(actions=[Call.media_stream_sid.set(marker)], condition=Call.media_stream_sid.does_not_exist())
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False  # the stream arrived meanwhile
    elif call.media_stream_sid != marker:
        return False  # it connected: the streaming service ends it
    outcome = end_call(call, status, details)
    call_completed.announce(call)
    return outcome.applied
