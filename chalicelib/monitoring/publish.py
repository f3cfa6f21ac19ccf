"""What the Lambdas publish: a call's status while no conversation holds it (queued, ringing, an end without
a conversation) and campaign progress. Once a streaming task has admitted the call's media, the task
publishes everything of that call itself (``streaming.monitoring``), so a call's events have one author at
a time and its ``seq`` stays in order.

Publishing never fails the caller: monitoring is a view, the call record is the truth.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.db.models import Call, Campaign
from chalicelib.domain.call_state import summary
from chalicelib.monitoring import events, sender
from chalicelib.monitoring.watchers import watchers_of
from chalicelib.observability import logger


def publish(account_id: int, items: Sequence[dict[str, Any]]) -> int:
    """Send ``items`` to the account's watchers that want them; returns how many posts were made."""
    client = sender.management_client()
    if client is None or not items:
        return 0
    posts = 0
    try:
        for watcher in watchers_of(account_id):
            chosen = [item for item in items if watcher.subscription.wants(item)]
            if chosen:
                sender.post(client, watcher.connection_id, chosen)
                posts += 1
    except Exception:
        logger.warning("monitoring: publishing failed", extra={"account_id": account_id}, exc_info=True)
    return posts


def _held_by_a_conversation(call: Call) -> bool:
    return call.media_stream_sid is not None


def call_queued(call: Call) -> None:
    publish(call.account_id, [events.status_event(call.call_id, call.bulk_call_id, "queued", events.SEQ_QUEUED)])


def call_progressed(call: Call, status: str) -> None:
    """A carrier said the call rings. ``in_progress`` means the conversation is live: only the streaming task
    that holds it says so (a carrier's "answered" and the media stream would otherwise both report it)."""
    if status == "ringing" and not _held_by_a_conversation(call):
        publish(call.account_id, [events.status_event(call.call_id, call.bulk_call_id, status,
                                                      events.STATUS_SEQ[status])])


def call_ended(call: Call, status: str, details: dict[str, Any]) -> None:
    """A call ended without a conversation (busy, unanswered, failed, never connected): its last two events."""
    if _held_by_a_conversation(call):
        return
    reason = str(details.get("reason") or details.get("carrier_status") or status)
    seq = events.SEQ_ENDED_WITHOUT_CONVERSATION
    publish(call.account_id, [
        events.status_event(call.call_id, call.bulk_call_id, "ended", seq, outcome=status, reason=reason),
        events.ended_event(call.call_id, call.bulk_call_id, seq + 1, outcome=status,
                           duration_s=details.get("duration_seconds"), analysis=None),
    ])


def campaign_progress(account_id: int, bulk_call_id: int) -> None:
    """The campaign's live-status counters, to the watchers that follow it (nothing is read without any)."""
    if sender.management_client() is None:
        return
    try:
        watching = [w for w in watchers_of(account_id)
                    if w.subscription.all or bulk_call_id in w.subscription.campaigns]
        if not watching:
            return
        campaign = Campaign.get(account_id, bulk_call_id)
        campaign.update(actions=[Campaign.progress_seq.add(1)])  # returns the counters as they are now
    except Exception:
        logger.warning("monitoring: campaign progress not published", extra={"bulk_call_id": bulk_call_id},
                       exc_info=True)
        return
    item = events.event("campaign.progress", call_id=None, bulk_call_id=bulk_call_id,
                        seq=int(campaign.progress_seq or 0), status=campaign.status, summary=summary(campaign))
    client = sender.management_client()
    for watcher in watching:
        sender.post(client, watcher.connection_id, [item])
