"""The one call state machine: queued -> ringing -> in_progress -> completed | failed | busy | no_answer.

Every transition is one ``TransactWriteItems``: a conditional update of the call (its status must
still be the one we read, and the move must be allowed), plus, for a campaign call, the line and the
campaign counters. A duplicated, retried or reordered event fails the condition and changes nothing,
so counters can never double count. The terminal transition of an inbound call also gives back its slot on
the number (``PhoneNumber.inbound_live``, taken by ``inbound_slots.record_inbound``) in the same transaction.

Counter buckets of a campaign call: placed, ringing and answered calls all hold a concurrency slot
and count as ``in_progress``; the summary's ``queued`` counts contacts still waiting to be dialled.
A busy or unanswered call with retries left goes back to ``queued`` instead of its outcome.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from chalicelib.db.models import Call, Campaign, CampaignLine, PhoneNumber, utcnow
from chalicelib.db.transactions import cancellation_codes, transaction

INCOMING = "Incoming"
NON_TERMINAL = ("queued", "ringing", "in_progress")
TERMINAL = ("completed", "failed", "busy", "no_answer")
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "queued": (),
    "ringing": ("queued",),
    "in_progress": ("queued", "ringing"),
    **{status: NON_TERMINAL for status in TERMINAL},
}
COUNTERS = ("queued", "in_progress", "completed", "failed", "busy", "no_answer")
RETRYABLE = ("busy", "no_answer")
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """What a transition did: ``applied`` is False when the event was stale or a duplicate."""

    applied: bool
    status: str
    requeued: bool = False


def campaign_key(account_id: int, bulk_call_id: int) -> str:
    return f"{account_id}#{bulk_call_id}"


def transition(call: Call, new_status: str, *, details: dict[str, Any] | None = None,
               retry_allowed: bool = False) -> Outcome:
    """Move ``call`` to ``new_status`` exactly once; re-reads and retries when the call moved meanwhile."""
    if new_status not in ALLOWED_FROM:
        raise ValueError(f"unknown call status {new_status!r}")
    for _ in range(MAX_ATTEMPTS):
        observed = call.status
        if observed not in ALLOWED_FROM[new_status]:
            return Outcome(applied=False, status=observed)
        requeue = retry_allowed and new_status in RETRYABLE and call.bulk_call_id is not None
        try:
            _write(call, observed, new_status, details or {}, requeue)
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in cancellation_codes(error):
                raise
            call.refresh(consistent_read=True)
            continue
        call.status = new_status
        return Outcome(applied=True, status=new_status, requeued=requeue)
    raise RuntimeError(f"call {call.call_id} kept changing; transition to {new_status} abandoned")


def _write(call: Call, observed: str, new_status: str, details: dict[str, Any], requeue: bool) -> None:
    now = utcnow()
    merged = {**(call.details or {}), **details, f"{new_status}_at": now.isoformat()}
    with transaction() as tx:
        actions: list[Action] = [Call.status.set(new_status), Call.updated_at.set(now), Call.details.set(merged)]
        if new_status in TERMINAL:
            actions.append(Call.active_account.remove())  # out of the active-calls index (monitoring snapshots)
        tx.update(call, actions=actions, condition=Call.status == observed)
        if new_status in TERMINAL and call.call_type == INCOMING and call.from_number_id is not None:
            # Numbers are never deleted (no API does it): the slot's number is there to give it back to.
            tx.update(PhoneNumber(call.account_id, call.from_number_id),
                      actions=[PhoneNumber.inbound_live.add(-1)], condition=PhoneNumber.phone_number_id.exists())
        if call.bulk_call_id is None:
            return
        line_status = "queued" if requeue else new_status
        line_actions: list[Action] = [CampaignLine.status.set(line_status), CampaignLine.updated_at.set(now)]
        if new_status in TERMINAL and details.get("reason"):
            line_actions.append(CampaignLine.reason.set(str(details["reason"])))
        tx.update(CampaignLine(campaign_key(call.account_id, call.bulk_call_id), call.line_id),
                  actions=line_actions, condition=CampaignLine.call_id == call.call_id)
        if new_status in TERMINAL:
            bucket = "queued" if requeue else new_status
            tx.update(Campaign(call.account_id, call.bulk_call_id), actions=[
                Campaign.in_progress.add(-1), getattr(Campaign, bucket).add(1), Campaign.updated_at.set(now),
            ], condition=Campaign.bulk_call_id.exists())


def summary(campaign: Campaign) -> dict[str, int]:
    counts = {name: int(getattr(campaign, name) or 0) for name in COUNTERS}
    return {"total_contacts": int(campaign.total_contacts or 0), **counts}
