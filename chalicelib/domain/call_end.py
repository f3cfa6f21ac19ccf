"""Ending a call: the one path every ending takes, whichever report of it arrives first.

A call ends when the carrier reports a final status (``carrier_events``), when the carrier refuses to
place it (``dialer.place``), or when the streaming service finalizes its conversation
(``call_media.finalize``). With a real carrier the last two race: the media stream's ``stop`` usually
comes a little before the ``completed`` status callback, sometimes after it. Each of them calls
:func:`end_call`, which

1. for a busy or unanswered campaign call with retries left, queues the retry first (if the transition
   then loses, the message finds the line at another attempt and is dropped);
2. applies the terminal status through the state machine (``call_state.transition``): one report
   applies it, later ones find the call terminal and change nothing;
3. if this report applied it: announces ``call.completed`` for a call without a conversation (one with a
   conversation is announced by the streaming service after its analysis) and, for a campaign call,
   feeds the next contact and closes the campaign when nothing is left (``campaign_feed.after_call``).

The follow-up runs wherever the transition was applied, so campaign progress never depends on which
report arrives first.
"""
from __future__ import annotations

from typing import Any

from chalicelib import queues
from chalicelib.db.models import Call
from chalicelib.domain import call_completed, call_state, campaign_feed
from chalicelib.monitoring import publish as monitoring


def end_call(call: Call, status: str, details: dict[str, Any] | None = None) -> call_state.Outcome:
    """Move ``call`` to the terminal ``status`` and do what its ending owes (see the module docstring)."""
    if status not in call_state.TERMINAL:
        raise ValueError(f"{status!r} does not end a call")
    retry = None
    if call.bulk_call_id is not None and status in call_state.RETRYABLE and call.status not in call_state.TERMINAL:
        retry = campaign_feed.retry_message(call)
        if retry:
            queues.send(queues.DIALER, retry, delay_seconds=retry["delay"])
    outcome = call_state.transition(call, status, details=details, retry_allowed=retry is not None)
    if not outcome.applied:
        return outcome
    with monitoring.deferred():  # the end and the campaign's progress: one read of the watchers
        call_completed.announce_if_silent(call)
        monitoring.call_ended(call, status, details or {})
        if call.bulk_call_id is not None:
            campaign_feed.after_call(call.account_id, call.bulk_call_id)
            monitoring.campaign_progress(call.account_id, call.bulk_call_id)
    return outcome
