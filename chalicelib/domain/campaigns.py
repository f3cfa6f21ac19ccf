"""Bulk call campaigns: create, contacts, lifecycle actions, lines and live status.

The campaign item holds the counters (see ``call_state``); contacts are ``CampaignLine`` items with
dense ids. Contacts are written first under a fresh batch id and only then counted, in one update
that also marks the batch committed, so a failed request never leaves half its contacts visible.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.db.models import Campaign, CampaignLine, utcnow
from chalicelib.db.paging import bounded_total, page_of
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import transaction
from chalicelib.domain import call_state, dialer
from chalicelib.domain.agents import get_agent
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.phone_numbers import get_number, is_dialable, not_dialable_reason
from chalicelib.monitoring import publish as monitoring
from chalicelib.schemas.bulk_calls import (
    DATETIME_FORMAT,
    AddContacts,
    BulkCallAction,
    BulkCallCreate,
    BulkCallList,
    BulkCallListQuery,
    BulkCallOut,
    Concurrency,
    ContactsAdded,
    DailyTimeControl,
    LineOut,
    LinesPage,
    LinesQuery,
    LiveStatus,
)

SCHEDULED = "scheduled"
# Up to this many contacts are added in one transaction with the counters, under the always-committed
# batch DIRECT; larger adds are written first and committed as a batch (keeps the batch set small).
DIRECT = "direct"
DIRECT_MAX = 99
OPEN_STATUSES = ("draft", "scheduled", "in_progress", "paused", "completed")


def get_campaign(account_id: int, bulk_call_id: int, consistent: bool = False) -> Campaign:
    try:
        return Campaign.get(account_id, bulk_call_id, consistent_read=consistent)
    except Campaign.DoesNotExist:
        raise NotFound(f"bulk call {bulk_call_id} not found", field="bulk_call_id") from None


def to_out(c: Campaign) -> BulkCallOut:
    s = c.settings or {}
    return BulkCallOut(
        id=c.bulk_call_id, name=c.name, bot_id=c.agent_id, phone_number_id=c.phone_number_id,
        campaign_status=c.status, concurrent_call_limit=c.concurrent_call_limit,
        summary=call_state.summary(c), is_scheduled=bool(s.get("is_scheduled")),
        scheduled_datetime=s.get("scheduled_datetime"), timezone=s.get("timezone", "UTC"),
        retry_config=s.get("retry_config"), daily_time_control=s.get("daily_time_control"),
        created_at=c.created_at, updated_at=c.updated_at)


def _epoch(local: str, zone: str) -> int:
    moment = datetime.strptime(local, DATETIME_FORMAT).replace(tzinfo=ZoneInfo(zone))
    return int(moment.timestamp())


def _contacts_from_create(body: BulkCallCreate) -> list[dict[str, Any]]:
    contacts = []
    for contact in body.contact_list:
        variables = {k: v for k, v in contact.model_dump().items() if k != "phone_number"}
        extra = variables.pop("extra_data", None)
        if isinstance(extra, dict):
            variables.update(extra)
        contacts.append({"to_number": contact.phone_number, "custom_variables": variables, "metadata": {}})
    return contacts


def create(account_id: int, body: BulkCallCreate) -> BulkCallOut:
    number = get_number(account_id, body.phone_number_id)
    if not is_dialable(number):
        raise Conflict(not_dialable_reason(number), field="phone_number_id")
    agent_id = body.bot_id or number.agent_id
    if agent_id is None:
        raise ValidationFailed("no agent: pass bot_id or attach the phone number to an agent", field="bot_id")
    get_agent(account_id, agent_id)
    contacts = _contacts_from_create(body)
    status = "draft" if body.save_as_draft else SCHEDULED if body.is_scheduled else "in_progress"
    campaign = Campaign(account_id, next_id("bulk_call"), name=body.name, agent_id=agent_id,
                        phone_number_id=number.phone_number_id, status=status,
                        concurrent_call_limit=body.concurrent_call_limit,
                        total_contacts=len(contacts), queued=len(contacts), next_line_id=len(contacts),
                        settings={"is_scheduled": body.is_scheduled, "scheduled_datetime": body.scheduled_datetime,
                                  "timezone": body.timezone,
                                  "retry_config": body.retry_config.model_dump() if body.retry_config else None,
                                  "enabled_reschedule_call": body.enabled_reschedule_call,
                                  "call_conditions": body.call_conditions, "rotation": body.rotation})
    if status == SCHEDULED:
        campaign.schedule_bucket = SCHEDULED
        campaign.scheduled_at = _epoch(body.scheduled_datetime or "", body.timezone)
    batch = uuid.uuid4().hex
    _write_lines(campaign, 1, contacts, batch)
    campaign.committed_batches = {batch, DIRECT}
    campaign.save(condition=Campaign.bulk_call_id.does_not_exist())
    if status == "in_progress":
        dialer.enqueue_next(campaign, campaign.concurrent_call_limit)
    return to_out(campaign)


def _write_lines(campaign: Campaign, first_id: int, contacts: list[dict[str, Any]], batch: str) -> list[int]:
    key = call_state.campaign_key(campaign.account_id, campaign.bulk_call_id)
    ids = list(range(first_id, first_id + len(contacts)))
    with CampaignLine.batch_write() as writer:
        for line_id, contact in zip(ids, contacts, strict=True):
            writer.save(CampaignLine(key, line_id, batch=batch, status="queued", **contact))
    return ids


def add_contacts(account_id: int, bulk_call_id: int, body: AddContacts) -> ContactsAdded:
    campaign = get_campaign(account_id, bulk_call_id)
    if campaign.status == "cancelled":
        raise Conflict(f"bulk call {bulk_call_id} is cancelled", field="bulk_call_id")
    contacts = [c.model_dump(exclude_none=True) for c in body.contacts]
    count = len(contacts)
    if count <= DIRECT_MAX:
        ids = _add_directly(campaign, contacts)
    else:
        ids = _add_as_batch(campaign, contacts)
    if campaign.status == "completed":
        _set_status(campaign, "in_progress", expected=("completed",))
    if campaign.status == "in_progress":
        dialer.enqueue_next(campaign, count)
    return ContactsAdded(added=count, line_ids=ids, summary=call_state.summary(campaign))


def _add_directly(campaign: Campaign, contacts: list[dict[str, Any]]) -> list[int]:
    """Contacts and counters in one transaction (ids follow ``next_line_id``, checked unchanged)."""
    key = call_state.campaign_key(campaign.account_id, campaign.bulk_call_id)
    count = len(contacts)
    for _ in range(10):
        first = int(campaign.next_line_id or 0) + 1
        tx = transaction()
        try:
            with tx:
                tx.update(campaign, actions=[
                    Campaign.next_line_id.set(first - 1 + count), Campaign.total_contacts.add(count),
                    Campaign.queued.add(count), Campaign.updated_at.set(utcnow())],
                    condition=(Campaign.next_line_id == first - 1) & (Campaign.status != "cancelled"))
                for offset, contact in enumerate(contacts):
                    tx.save(CampaignLine(key, first + offset, batch=DIRECT, status="queued", **contact),
                            condition=CampaignLine.line_id.does_not_exist())
        except TransactWriteError:
            campaign.refresh(consistent_read=True)
            if campaign.status == "cancelled":
                raise Conflict(f"bulk call {campaign.bulk_call_id} is cancelled", field="bulk_call_id") from None
            continue
        campaign.refresh(consistent_read=True)
        return list(range(first, first + count))
    raise Conflict("the bulk call is changing too fast; retry the request")


def _add_as_batch(campaign: Campaign, contacts: list[dict[str, Any]]) -> list[int]:
    bulk_call_id, count = campaign.bulk_call_id, len(contacts)
    campaign.update(actions=[Campaign.next_line_id.add(count)])  # reserve ids [next - count + 1, next]
    batch = uuid.uuid4().hex
    ids = _write_lines(campaign, int(campaign.next_line_id) - count + 1, contacts, batch)
    actions: list[Action] = [Campaign.total_contacts.add(count), Campaign.queued.add(count),
               Campaign.committed_batches.add({batch}), Campaign.updated_at.set(utcnow())]
    try:
        campaign.update(actions=actions, condition=Campaign.status != "cancelled")
    except UpdateError:
        raise Conflict(f"bulk call {bulk_call_id} was cancelled meanwhile; nothing added") from None
    return ids


def _set_status(campaign: Campaign, status: str, expected: tuple[str, ...], extra: list | None = None) -> None:
    try:
        campaign.update(actions=[Campaign.status.set(status), Campaign.updated_at.set(utcnow()), *(extra or [])],
                        condition=Campaign.status.is_in(*expected))
    except UpdateError:
        campaign.refresh()
        raise Conflict(f"bulk call {campaign.bulk_call_id} is {campaign.status}; cannot make it {status}",
                       field="bulk_call_id") from None
    monitoring.campaign_progress(campaign.account_id, campaign.bulk_call_id)


def act(account_id: int, bulk_call_id: int, body: BulkCallAction) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    if body.action == "pause":
        _set_status(campaign, "paused", expected=("in_progress", SCHEDULED))
    elif body.action == "resume":
        _set_status(campaign, "in_progress", expected=("paused",))
        dialer.request_sweep(campaign, "resume")  # contacts fed before the pause, still waiting
        dialer.enqueue_next(campaign, campaign.concurrent_call_limit)
    else:
        zone = body.new_timezone or (campaign.settings or {}).get("timezone", "UTC")
        at = _epoch(body.new_scheduled_datetime or "", zone)
        settings = {**(campaign.settings or {}), "is_scheduled": True,
                    "scheduled_datetime": body.new_scheduled_datetime, "timezone": zone}
        _set_status(campaign, SCHEDULED, expected=("draft", SCHEDULED, "paused", "in_progress"),
                    extra=[Campaign.schedule_bucket.set(SCHEDULED), Campaign.scheduled_at.set(at),
                           Campaign.settings.set(settings)])
    return to_out(campaign)


def start(account_id: int, bulk_call_id: int) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    _set_status(campaign, "in_progress", expected=("draft", SCHEDULED),
                extra=[Campaign.schedule_bucket.remove(), Campaign.scheduled_at.remove()])
    dialer.enqueue_next(campaign, campaign.concurrent_call_limit)
    return to_out(campaign)


def cancel(account_id: int, bulk_call_id: int) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    _set_status(campaign, "cancelled", expected=OPEN_STATUSES,
                extra=[Campaign.schedule_bucket.remove(), Campaign.scheduled_at.remove()])
    dialer.request_sweep(campaign, "cancel")
    return to_out(campaign)


def set_concurrency(account_id: int, bulk_call_id: int, body: Concurrency) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    previous = int(campaign.concurrent_call_limit)
    campaign.update(actions=[Campaign.concurrent_call_limit.set(body.concurrent_call_limit),
                             Campaign.updated_at.set(utcnow())])
    if campaign.status == "in_progress" and body.concurrent_call_limit > previous:
        dialer.enqueue_next(campaign, body.concurrent_call_limit - previous)
    return to_out(campaign)


def manual_retry(account_id: int, bulk_call_id: int) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    if campaign.status in ("cancelled", "draft"):
        raise Conflict(f"bulk call {bulk_call_id} is {campaign.status}", field="bulk_call_id")
    if campaign.status == "completed":
        _set_status(campaign, "in_progress", expected=("completed",))
    dialer.request_sweep(campaign, "retry")
    return to_out(campaign)


def set_daily_time_control(account_id: int, bulk_call_id: int, body: DailyTimeControl) -> BulkCallOut:
    campaign = get_campaign(account_id, bulk_call_id)
    settings = {**(campaign.settings or {}), "daily_time_control": body.model_dump()}
    campaign.update(actions=[Campaign.settings.set(settings), Campaign.updated_at.set(utcnow())])
    return to_out(campaign)


def list_campaigns(account_id: int, query: BulkCallListQuery) -> BulkCallList:
    condition = Campaign.status == query.status if query.status else None
    items = page_of(Campaign.query(account_id, scan_index_forward=False, filter_condition=condition), query)
    return BulkCallList(bulk_calls=[to_out(c) for c in items],
                        total_records=bounded_total(Campaign.query(
                            account_id, filter_condition=condition,
                            attributes_to_get=["account_id", "bulk_call_id"])).count,
                        pageno=query.pageno, pagesize=query.pagesize)


def lines(account_id: int, bulk_call_id: int, query: LinesQuery) -> LinesPage:
    campaign = get_campaign(account_id, bulk_call_id)
    key = call_state.campaign_key(account_id, bulk_call_id)
    committed = campaign.committed_batches or set()
    conditions: list[Condition] = []
    if query.call_status:
        conditions.append(CampaignLine.status == query.call_status)
    if query.search:
        conditions.append(CampaignLine.to_number.contains(query.search))
    condition = None
    for part in conditions:
        condition = part if condition is None else condition & part
    after = int(query.cursor) if query.cursor else 0
    # Batch membership is checked here, not in the filter: DynamoDB's IN takes at most 100 values.
    results = CampaignLine.query(key, CampaignLine.line_id > after, filter_condition=condition,
                                 page_size=max(query.pagesize, 100))
    found: list[CampaignLine] = []
    for line in results:
        if line.batch not in committed:
            continue
        found.append(line)
        if len(found) == query.pagesize:
            break
    more = len(found) == query.pagesize and found[-1].line_id < int(campaign.next_line_id)
    total = None
    if query.include_total:
        total = sum(1 for line in CampaignLine.query(key, filter_condition=condition,
                                                     attributes_to_get=["line_id", "batch"])
                    if line.batch in committed)
    return LinesPage(lines=[_line_out(line) for line in found],
                     next_cursor=str(found[-1].line_id) if more else None, total=total)


def _line_out(line: CampaignLine) -> LineOut:
    return LineOut(line_id=line.line_id, to_number=line.to_number, call_status=line.status,
                   attempts=line.attempts, call_id=line.call_id, reason=line.reason,
                   custom_variables=line.custom_variables or {}, metadata=line.metadata or {},
                   updated_at=line.updated_at)


LIVE_STATUS_ATTRIBUTES = ["bulk_call_id", "status", "total_contacts", *call_state.COUNTERS]


def live_status(account_id: int, bulk_call_id: int) -> LiveStatus:
    """Exactly one GetItem (strongly consistent, counters only), whatever the campaign size."""
    try:
        campaign = Campaign.get(account_id, bulk_call_id, consistent_read=True,
                                attributes_to_get=LIVE_STATUS_ATTRIBUTES)
    except Campaign.DoesNotExist:
        raise NotFound(f"bulk call {bulk_call_id} not found", field="bulk_call_id") from None
    return LiveStatus(bulk_call_id=bulk_call_id, campaign_status=campaign.status,
                      summary=call_state.summary(campaign))


def start_due(now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (run by a schedule every minute)."""
    moment = int((now or datetime.now(UTC)).timestamp())
    started = []
    for campaign in Campaign.by_schedule.query(SCHEDULED, Campaign.scheduled_at <= moment):
        try:
            _set_status(campaign, "in_progress", expected=(SCHEDULED,),
                        extra=[Campaign.schedule_bucket.remove(), Campaign.scheduled_at.remove()])
        except Conflict:
            continue
        dialer.enqueue_next(campaign, campaign.concurrent_call_limit)
        started.append(campaign.bulk_call_id)
    return started


