"""A campaign's dial queue: contacts fed into SQS as a window, retries, and what a freed slot does.

Contacts are fed into the dialer queue as a window: ``concurrent_call_limit`` at start, then one more
each time a call ends (:func:`after_call`), so messages rarely wait on a full campaign. A busy or
unanswered call with retries left is dialled again after the campaign's retry delay
(:func:`retry_message`). Campaign-wide work (cancel, resume, manual retry) goes through the
campaign-ops queue in pages (:func:`request_sweep`).
"""
from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import queues
from chalicelib.db.models import Call, Campaign, utcnow


def dial_message(campaign: Campaign, line_id: int, attempt: int, not_before: int | None = None) -> dict[str, Any]:
    return {"account_id": campaign.account_id, "bulk_call_id": campaign.bulk_call_id, "line_id": line_id,
            "attempt": attempt, "not_before": not_before}


def enqueue_next(campaign: Campaign, count: int, fresh: bool = False) -> int:
    """Feed up to ``count`` more fresh contacts into the dial queue; returns how many were sent.
    ``fresh``: the caller just read ``campaign`` consistently, so the first try skips the re-read."""
    for attempt in range(20):
        if attempt or not fresh:
            campaign.refresh(consistent_read=True)
        start = int(campaign.enqueued_upto or 0)
        end = min(start + count, int(campaign.next_line_id or 0))
        if end <= start:
            return 0
        try:
            campaign.update(actions=[Campaign.enqueued_upto.set(end)], condition=Campaign.enqueued_upto == start)
        except UpdateError:
            continue
        queues.send_many(queues.DIALER, [dial_message(campaign, i, 1) for i in range(start + 1, end + 1)])
        return end - start
    raise RuntimeError(f"campaign {campaign.bulk_call_id}: could not advance the dial window")


def request_sweep(campaign: Campaign, kind: str, after: int = 0) -> None:
    queues.send(queues.CAMPAIGN_OPS, {"op": kind, "account_id": campaign.account_id,
                                      "bulk_call_id": campaign.bulk_call_id, "after": after})


def retry_message(call: Call) -> dict[str, Any] | None:
    """The next attempt's dial message for a busy or unanswered campaign call, when the campaign's retry
    config allows one (``delay``: the seconds SQS holds it back, at most 15 minutes; ``not_before`` the rest)."""
    campaign = Campaign.get(call.account_id, call.bulk_call_id)
    retry = (campaign.settings or {}).get("retry_config") or {}
    if not retry.get("auto_retry"):
        return None
    attempt = int((call.details or {}).get("attempt", 1))
    if attempt > int(retry.get("retry_limit", 1)):
        return None
    delay = retry.get("retry_delay_seconds")
    if delay is None:
        delay = int(retry.get("retry_schedule_days", 0) * 86400 + retry.get("retry_schedule_hours", 0) * 3600)
    message = dial_message(campaign, call.line_id, attempt + 1, not_before=int(time.time() + delay))
    message["delay"] = min(int(delay), 900)
    return message


def after_call(account_id: int, bulk_call_id: int) -> None:
    """A slot was freed: feed the next contact, and close the campaign when nothing is left."""
    campaign = Campaign.get(account_id, bulk_call_id, consistent_read=True)
    if campaign.status != "in_progress":
        return
    if enqueue_next(campaign, 1, fresh=True):
        return
    if int(campaign.queued) == 0 and int(campaign.in_progress) == 0:
        try:
            campaign.update(actions=[Campaign.status.set("completed"), Campaign.updated_at.set(utcnow())],
                            condition=(Campaign.status == "in_progress") & (Campaign.queued == 0)
                            & (Campaign.in_progress == 0))
        except UpdateError:
            pass
