"""The campaign dialer: contacts flow through SQS and are dialled while a concurrency slot is free.

The campaign's ``in_progress`` counter is the slot count: dialling is one transaction that takes a
slot (``in_progress < concurrent_call_limit``), moves the contact out of ``queued`` and creates the
call. Contacts are fed into the queue as a window (``campaign_feed``): ``concurrent_call_limit`` at
start, then one more each time a call ends (``call_end``), so messages rarely wait on a full campaign.
Stale or duplicated messages fail their conditions and are dropped: a contact is dialled at most once
per attempt. A call the carrier refuses to place ends through ``call_end`` like any other.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib import queues
from chalicelib.db.models import Agent, Call, Campaign, CampaignLine, PhoneNumber, utcnow
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import cancellation_codes, failed_tables, transaction
from chalicelib.domain import call_state
from chalicelib.domain.call_end import end_call
from chalicelib.domain.campaign_feed import after_call, dial_message, enqueue_next, request_sweep
from chalicelib.domain.daily_window import seconds_until_allowed
from chalicelib.monitoring import publish as monitoring
from chalicelib.observability import logger
from chalicelib.telephony.adapter import TelephonyAdapter

SLOT_WAIT_SECONDS = 3
SWEEP_PAGE = 99


@dataclass(frozen=True)
class Verdict:
    """What became of a dial message: ``done`` deletes it; otherwise it comes back after ``retry_in``."""

    done: bool
    retry_in: int = 0
    note: str = ""


def handle_dial(message: dict[str, Any], telephony: TelephonyAdapter, now: float | None = None) -> Verdict:
    now = now or time.time()
    try:
        campaign = Campaign.get(message["account_id"], message["bulk_call_id"], consistent_read=True)
    except Campaign.DoesNotExist:
        return Verdict(True, note="campaign gone")
    if campaign.status in ("cancelled", "completed", "paused", "draft", "scheduled"):
        return Verdict(True, note=f"campaign {campaign.status}")  # resume/start re-feeds waiting contacts
    wait = seconds_until_allowed((campaign.settings or {}).get("daily_time_control"),
                                 datetime.fromtimestamp(now, UTC))
    if wait is None:
        try:
            campaign.update(actions=[Campaign.status.set("paused")], condition=Campaign.status == "in_progress")
        except UpdateError:
            pass
        return Verdict(True, note="daily hard stop: campaign paused")
    if wait:
        return Verdict(False, retry_in=wait, note="outside the daily window")
    if message.get("not_before") and message["not_before"] > now:
        return Verdict(False, retry_in=int(message["not_before"] - now) + 1, note="retry not due")
    key = call_state.campaign_key(campaign.account_id, campaign.bulk_call_id)
    try:
        line = CampaignLine.get(key, message["line_id"], consistent_read=True)
    except CampaignLine.DoesNotExist:
        enqueue_next(campaign, 1)
        return Verdict(True, note="line never committed")
    if line.batch not in (campaign.committed_batches or set()):
        enqueue_next(campaign, 1)
        return Verdict(True, note="line never committed")
    attempt = int(message["attempt"])
    if int(line.attempts or 0) != attempt - 1 or line.status in call_state.TERMINAL:
        return Verdict(True, note="stale message")
    if line.status != "queued":
        # A retry sent just before its previous call's final transition commits: try again shortly.
        return Verdict(False, retry_in=SLOT_WAIT_SECONDS, note="previous attempt still finishing")
    call = Call(campaign.account_id, next_id("call"), agent_key=f"{campaign.account_id}#{campaign.agent_id}",
                agent_id=campaign.agent_id, to_number=line.to_number, from_number_id=campaign.phone_number_id,
                status="queued", call_context=dict(line.custom_variables or {}),
                bulk_call_id=campaign.bulk_call_id, line_id=line.line_id,
                details={"attempt": attempt}, active_account=campaign.account_id)
    tx = transaction()
    try:
        with tx:
            tx.update(campaign, actions=[Campaign.queued.add(-1), Campaign.in_progress.add(1)],
                      condition=(Campaign.status == "in_progress")
                      & (Campaign.in_progress < Campaign.concurrent_call_limit))
            tx.update(line, actions=[CampaignLine.status.set("dialing"), CampaignLine.attempts.set(attempt),
                                     CampaignLine.call_id.set(call.call_id), CampaignLine.updated_at.set(utcnow())],
                      condition=(CampaignLine.status == "queued") & (CampaignLine.attempts == attempt - 1))
            tx.save(call, condition=Call.call_id.does_not_exist())
    except TransactWriteError as error:
        failed = failed_tables(tx, error)
        if CampaignLine.Meta.table_name in failed:
            return Verdict(True, note="line taken by another message")
        if Campaign.Meta.table_name in failed:
            return Verdict(False, retry_in=SLOT_WAIT_SECONDS, note="no free slot")
        raise
    with monitoring.deferred():  # sent before the carrier is asked, whose callbacks publish what follows
        monitoring.call_queued(call)
        monitoring.campaign_progress(call.account_id, campaign.bulk_call_id)
    place(call, telephony)
    return Verdict(True, note="dialled")


def _leaves_voicemail(call: Call) -> bool:
    """The call's agent has ``voicemail`` enabled: the carrier is asked to detect answering machines."""
    try:
        config = Agent.get(call.account_id, call.agent_id, attributes_to_get=["config"]).config or {}
    except Agent.DoesNotExist:
        return False
    return bool((config.get("voicemail") or {}).get("enabled"))


def place(call: Call, telephony: TelephonyAdapter) -> None:
    """Hand a created call to the carrier; a refusal finalizes it as failed (freeing its slot)."""
    try:
        number = PhoneNumber.get(call.account_id, call.from_number_id)
        placement = telephony.place_call(call, number, machine_detection=_leaves_voicemail(call))
    except Exception as error:  # the carrier said no, or could not be reached
        logger.warning("call placement failed", extra={"call_id": call.call_id, "error": type(error).__name__})
        end_call(call, "failed", {"reason": f"placement failed: {error}"[:500]})
        return
    if placement.carrier_sid:
        call.update(actions=[Call.carrier_sid.set(placement.carrier_sid)])


def handle_sweep(message: dict[str, Any]) -> None:
    """Campaign-wide work in pages: cancel queued contacts, re-feed after resume, or retry failures."""
    try:
        campaign = Campaign.get(message["account_id"], message["bulk_call_id"], consistent_read=True)
    except Campaign.DoesNotExist:
        return
    kind, after = message["op"], int(message.get("after", 0))
    key = call_state.campaign_key(campaign.account_id, campaign.bulk_call_id)
    wanted = {"cancel": ("queued",), "resume": ("queued",), "retry": ("failed", "busy", "no_answer")}[kind]
    upto = int(campaign.enqueued_upto or 0) if kind == "resume" else int(campaign.next_line_id or 0)
    page = list(CampaignLine.query(key, CampaignLine.line_id.between(after + 1, max(upto, after + 1)),
                                   filter_condition=CampaignLine.status.is_in(*wanted), limit=SWEEP_PAGE,
                                   page_size=SWEEP_PAGE))
    committed = campaign.committed_batches or set()
    page = [line for line in page if line.batch in committed]
    if kind == "cancel":
        for line in page:
            _move_line(campaign, line, "queued", "failed", reason="cancelled")
    elif kind == "retry":
        for line in page:
            if _move_line(campaign, line, line.status, "queued", reason=None):
                queues.send(queues.DIALER, dial_message(campaign, line.line_id, int(line.attempts or 0) + 1))
    else:
        queues.send_many(queues.DIALER, [dial_message(campaign, line.line_id, int(line.attempts or 0) + 1,
                                                      not_before=_epoch(line.not_before)) for line in page])
    if page and kind != "resume":
        monitoring.campaign_progress(campaign.account_id, campaign.bulk_call_id)
    if len(page) == SWEEP_PAGE or (page and page[-1].line_id < upto):
        request_sweep(campaign, kind, after=page[-1].line_id)
    elif kind == "retry":
        after_call(campaign.account_id, campaign.bulk_call_id)


def _move_line(campaign: Campaign, line: CampaignLine, old: str, new: str, reason: str | None) -> bool:
    """Move one waiting or finished contact between counter buckets, exactly once."""
    try:
        with transaction() as tx:
            tx.update(line, actions=[CampaignLine.status.set(new), CampaignLine.reason.set(reason)
                                     if reason else CampaignLine.reason.remove(),
                                     CampaignLine.updated_at.set(utcnow())],
                      condition=CampaignLine.status == old)
            tx.update(campaign, actions=[getattr(Campaign, old).add(-1), getattr(Campaign, new).add(1)])
    except TransactWriteError as error:
        if "ConditionalCheckFailed" in cancellation_codes(error):
            return False
        raise
    return True


def _epoch(value: float | None) -> int | None:
    return None if value is None else int(value)
