"""What the Lambdas publish: a call's status while no conversation holds it (queued, ringing, an end without
a conversation) and campaign progress. Once a streaming task has admitted the call's media, the task
publishes everything of that call itself (``streaming.monitoring``), so a call's events have one author at
a time and its ``seq`` stays in order.

A unit of work (a worker's batch, a carrier callback, ``end_call``) may defer what it publishes with
:func:`deferred`: everything is then sent at its end with one Query of each account's watchers, made after
all of the unit's writes, so a watcher that subscribes meanwhile finds those calls in its snapshot and
nothing falls between. (Per event, the Query alone cost the 1,000-contact campaign a quarter of its time.)

Publishing never fails the caller: monitoring is a view, the call record is the truth.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from chalicelib.db.models import Call, Campaign
from chalicelib.domain.call_state import summary
from chalicelib.monitoring import events, sender
from chalicelib.monitoring.watchers import Watcher, watchers_of
from chalicelib.observability import logger


@dataclass
class _Pending:
    calls: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # account -> call events, in order
    campaigns: dict[int, list[int]] = field(default_factory=dict)  # account -> campaigns whose counters moved

    def send(self) -> int:
        client = sender.management_client()
        posts = 0
        if client is None:
            return 0
        for account_id in {*self.calls, *self.campaigns}:
            try:
                posts += _send_account(client, account_id, self.calls.get(account_id, []),
                                       self.campaigns.get(account_id, []))
            except Exception:
                logger.warning("monitoring: publishing failed", extra={"account_id": account_id}, exc_info=True)
        return posts


# The unit of work being deferred in this context (a ContextVar: each thread and task has its own).
_pending: ContextVar[_Pending | None] = ContextVar("parley_monitoring_pending", default=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Collect what is published inside and send it on exit (nested: the outermost sends)."""
    if _pending.get() is not None:
        yield
        return
    pending = _Pending()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        pending.send()


def publish(account_id: int, items: Sequence[dict[str, Any]]) -> int:
    """Send ``items`` to the account's watchers that want them (now, or at the end of the deferred unit)."""
    if not items or sender.management_client() is None:
        return 0
    pending = _pending.get()
    if pending is not None:
        pending.calls.setdefault(account_id, []).extend(items)
        return 0
    return _Pending(calls={account_id: list(items)}).send()


def campaign_progress(account_id: int, bulk_call_id: int) -> None:
    """The campaign's live-status counters, to the watchers that follow it (nothing is read without any)."""
    if sender.management_client() is None:
        return
    pending = _pending.get()
    if pending is not None:
        wanted = pending.campaigns.setdefault(account_id, [])
        if bulk_call_id not in wanted:
            wanted.append(bulk_call_id)
        return
    _Pending(campaigns={account_id: [bulk_call_id]}).send()


def _send_account(client: Any, account_id: int, items: list[dict[str, Any]], campaigns: list[int]) -> int:
    watchers = watchers_of(account_id)  # one Query, after the unit's writes
    if not watchers:
        return 0
    items = items + [progress for bulk_call_id in campaigns
                     if (progress := _progress_event(account_id, bulk_call_id, watchers)) is not None]
    posts = 0
    for watcher in watchers:
        chosen = [item for item in items if watcher.subscription.wants(item)]
        if chosen:
            sender.post(client, watcher.connection_id, chosen)
            posts += 1
    return posts


def _progress_event(account_id: int, bulk_call_id: int, watchers: list[Watcher]) -> dict[str, Any] | None:
    if not any(w.subscription.all or bulk_call_id in w.subscription.campaigns for w in watchers):
        return None
    campaign = Campaign(account_id, bulk_call_id)
    campaign.update(actions=[Campaign.progress_seq.add(1)],  # returns the counters as they are now
                    condition=Campaign.bulk_call_id.exists())
    return events.event("campaign.progress", call_id=None, bulk_call_id=bulk_call_id,
                        seq=int(campaign.progress_seq or 0), status=campaign.status, summary=summary(campaign))


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
