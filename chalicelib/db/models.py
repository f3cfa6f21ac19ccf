"""PynamoDB models: the single source of truth for every table's key schema.

``infra/`` derives the CloudFormation tables from these classes and the local stack creates the
same tables in the embedded AWS, so the two can never drift apart. Every item that belongs to a
customer carries its ``account_id`` in its key, which is how tenant isolation is enforced.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import MetaProtocol, Model

from chalicelib.config import Settings, physical_table_name


class IntegerAttribute(Attribute[int]):
    """A whole number (ids, counters): DynamoDB's number type, read back as ``int``.

    ``NumberAttribute`` is typed (and reads) as ``float``; ids and counters are integers, so they get a
    type that says so. Epoch-second fields, which may carry fractions, stay ``NumberAttribute``.
    """

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return json.dumps(int(value))

    def deserialize(self, value: str) -> int:
        return int(json.loads(value))


def utcnow() -> datetime:
    return datetime.now(UTC)


def _meta(suffix: str) -> MetaProtocol:
    """A model's ``Meta``: its physical table name and region (PynamoDB fills in the other defaults)."""
    settings = Settings.from_env()
    name = physical_table_name(suffix)

    class Meta:
        table_name = name
        region = settings.region
        billing_mode = "PAY_PER_REQUEST"

    return cast(MetaProtocol, Meta)


class Account(Model):
    Meta = _meta("accounts")
    account_id = IntegerAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    sealed_search_keys = BinaryAttribute(null=True, legacy_encoding=False)
    """Web-search API keys (Tavily, Exa), sealed for the account (``domain.search_credentials``); never returned."""


class ApiKey(Model):
    """An API key, stored only as its SHA-256 digest."""

    Meta = _meta("api-keys")
    key_hash = UnicodeAttribute(hash_key=True)
    account_id = IntegerAttribute()
    prefix = UnicodeAttribute()
    name = UnicodeAttribute(default="default")
    created_at = UTCDateTimeAttribute(default=utcnow)
    usage_key = UnicodeAttribute(null=True)
    """The account's API Gateway key value (its usage-plan throttle); the authorizer returns it."""
    disabled = BooleanAttribute(null=True)
    """A disabled key authenticates nothing (REST, monitor tokens already issued, monitoring connects)."""


class Sequence(Model):
    """Atomic integer sequences, one item per kind of id."""

    Meta = _meta("sequences")
    name = UnicodeAttribute(hash_key=True)
    value = IntegerAttribute(default=0)


class Agent(Model):
    Meta = _meta("agents")
    account_id = IntegerAttribute(hash_key=True)
    agent_id = IntegerAttribute(range_key=True)
    name = UnicodeAttribute()
    config = JSONAttribute()
    public_key = UnicodeAttribute(null=True)  # the web widget's key (``pub_...``); its ``WidgetKey`` points back
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class WidgetKey(Model):
    """An agent's public web-widget key -> its agent, in one GetItem (``chalicelib.domain.web_widget``).

    Written and deleted in the same transactions as the agent's ``public_key``: a key is in this table exactly
    while its agent holds it. Public keys are embedded in web pages, so they are stored as they are.
    """

    Meta = _meta("widget-keys")
    public_key = UnicodeAttribute(hash_key=True)
    account_id = IntegerAttribute()
    agent_id = IntegerAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)


class PostCallAction(Model):
    """One delivery channel of an agent. ``agent_key`` is ``"{account_id}#{agent_id}"``."""

    Meta = _meta("post-call-actions")
    agent_key = UnicodeAttribute(hash_key=True)
    action_id = IntegerAttribute(range_key=True)
    account_id = IntegerAttribute()
    agent_id = IntegerAttribute()
    type = UnicodeAttribute()
    config = JSONAttribute()
    sealed_secrets = BinaryAttribute(null=True, legacy_encoding=False)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class IdempotencyRecord(Model):
    """Remembers the answer to a request sent with an ``Idempotency-Key`` for 24 hours."""

    Meta = _meta("idempotency")
    key = UnicodeAttribute(hash_key=True)
    request_hash = UnicodeAttribute()
    response = JSONAttribute()
    status_code = IntegerAttribute()
    expires_at = TTLAttribute()


class UniqueClaim(Model):
    """Guards a uniqueness rule (e.g. one import per phone number and account) inside a transaction."""

    Meta = _meta("unique-claims")
    claim = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()


class PhoneNumber(Model):
    Meta = _meta("phone-numbers")
    account_id = IntegerAttribute(hash_key=True)
    phone_number_id = IntegerAttribute(range_key=True)
    number = UnicodeAttribute()
    provider = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    agent_id = IntegerAttribute(null=True)
    settings = JSONAttribute(default=dict)
    sealed_credentials = BinaryAttribute(null=True, legacy_encoding=False)
    # Live inbound calls on the number: taken when one is created (under the cap), given back by its terminal
    # transition (``call_state``), both in the same transaction as the call's own write.
    inbound_live = IntegerAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)


class CallsByAgent(GlobalSecondaryIndex["Call"]):
    class Meta:
        index_name = "by-agent"
        projection = AllProjection()

    agent_key = UnicodeAttribute(hash_key=True)
    call_id = IntegerAttribute(range_key=True)


class ActiveCallsByAccount(GlobalSecondaryIndex["Call"]):
    """Sparse index of the calls that have not ended, by account: what a monitoring snapshot lists.
    ``active_account`` is set when a call is created and removed by its terminal transition."""

    class Meta:
        index_name = "active-by-account"
        projection = AllProjection()

    active_account = IntegerAttribute(hash_key=True)
    call_id = IntegerAttribute(range_key=True)


class Call(Model):
    Meta = _meta("calls")
    account_id = IntegerAttribute(hash_key=True)
    call_id = IntegerAttribute(range_key=True)
    agent_key = UnicodeAttribute()
    agent_id = IntegerAttribute()
    to_number = UnicodeAttribute()
    from_number_id = IntegerAttribute(null=True)
    status = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)  # "phone" (also when absent: calls made before channels) | "web"
    call_type = UnicodeAttribute(null=True)  # "Incoming" (a caller rang one of our numbers) | absent: we placed it
    bulk_call_id = IntegerAttribute(null=True)
    line_id = IntegerAttribute(null=True)
    carrier_sid = UnicodeAttribute(null=True)
    call_context = JSONAttribute(default=dict)
    details = JSONAttribute(default=dict)
    # Written once, by the streaming service, when the conversation ends (never by the state machine):
    transcript = JSONAttribute(null=True)  # [{"role","text","start_s","end_s",...}]
    turn_metrics = JSONAttribute(null=True)  # per caller turn, ms from end of speech
    recording = JSONAttribute(null=True)  # {"bucket","key","transcript_key","duration_s"}
    conversation = JSONAttribute(null=True)  # {"ended_by","barge_ins",...}: how the conversation went
    media_stream_sid = UnicodeAttribute(null=True)  # the one media stream admitted for this call
    media_finalized_at = UTCDateTimeAttribute(null=True)
    analysis = JSONAttribute(null=True)  # {"summary","sentiment","extracted_variables","errors",...}
    completed_event_at = UTCDateTimeAttribute(null=True)  # call.completed announced (once per call)
    # Live monitoring (chalicelib.monitoring): the streaming task holding the conversation, and what a
    # snapshot shows of it while it lasts ({"seq", "transcript": [{"role","text","turn"}]}).
    media_task = UnicodeAttribute(null=True)
    live = JSONAttribute(null=True)
    active_account = IntegerAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    by_agent = CallsByAgent()
    active_by_account = ActiveCallsByAccount()


class DeliveriesUndeliveredByAction(GlobalSecondaryIndex["Delivery"]):
    """Sparse index of an action's deliveries that ended without being delivered (failed, refused, gone,
    cancelled), by when they ended: what ``recover`` sends again. A delivered or pending one is not in it."""

    class Meta:
        index_name = "undelivered-by-action"
        projection = KeysOnlyProjection()

    undelivered_key = UnicodeAttribute(hash_key=True)  # "{account_id}#{agent_id}#{action_id}"
    finished_at = NumberAttribute(range_key=True)  # epoch seconds


class Delivery(Model):
    """One post-call delivery: a call's results to one action. ``call_key`` is ``"{account_id}#{call_id}"``.

    Created once per (call, action) under a condition, so a redelivered event never makes a second one;
    every attempt is appended to ``attempts``.
    """

    Meta = _meta("deliveries")
    call_key = UnicodeAttribute(hash_key=True)
    action_id = IntegerAttribute(range_key=True)
    account_id = IntegerAttribute()
    call_id = IntegerAttribute()
    agent_id = IntegerAttribute()
    action_type = UnicodeAttribute()
    webhook_id = UnicodeAttribute()  # the Standard Webhooks message id, the same for every attempt
    status = UnicodeAttribute()  # pending | succeeded | failed | refused | gone | cancelled
    attempt_count = IntegerAttribute(default=0)
    round_attempts = IntegerAttribute(default=0)  # attempts since the delivery was created or replayed
    attempts = JSONAttribute(default=list)  # [{"at","status_code","latency_ms","error","outcome"}]
    next_attempt_at = NumberAttribute(null=True)  # epoch seconds
    lease_until = NumberAttribute(null=True)  # epoch seconds: an attempt is in flight until then
    event = BinaryAttribute(legacy_encoding=False)  # zlib(JSON) of the call.completed detail it delivers
    last_error = UnicodeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    undelivered_key = UnicodeAttribute(null=True)  # set only while it ended undelivered (sparse index)
    finished_at = NumberAttribute(null=True)  # epoch seconds it ended undelivered
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    undelivered_by_action = DeliveriesUndeliveredByAction()


class CampaignsBySchedule(GlobalSecondaryIndex["Campaign"]):
    """Sparse index of campaigns waiting for their start time (``schedule_bucket`` set only then)."""

    class Meta:
        index_name = "by-schedule"
        projection = AllProjection()

    schedule_bucket = UnicodeAttribute(hash_key=True)
    scheduled_at = NumberAttribute(range_key=True)


class Campaign(Model):
    """A bulk call. Its counters are the whole live status: one GetItem answers live-status.

    Invariant: queued + in_progress + completed + failed + busy + no_answer == total_contacts.
    """

    Meta = _meta("campaigns")
    account_id = IntegerAttribute(hash_key=True)
    bulk_call_id = IntegerAttribute(range_key=True)
    name = UnicodeAttribute()
    agent_id = IntegerAttribute()
    phone_number_id = IntegerAttribute()
    status = UnicodeAttribute()
    concurrent_call_limit = IntegerAttribute()
    total_contacts = IntegerAttribute(default=0)
    queued = IntegerAttribute(default=0)
    in_progress = IntegerAttribute(default=0)
    completed = IntegerAttribute(default=0)
    failed = IntegerAttribute(default=0)
    busy = IntegerAttribute(default=0)
    no_answer = IntegerAttribute(default=0)
    next_line_id = IntegerAttribute(default=0)
    enqueued_upto = IntegerAttribute(default=0)
    committed_batches = UnicodeSetAttribute(default=set)
    settings = JSONAttribute(default=dict)
    schedule_bucket = UnicodeAttribute(null=True)
    scheduled_at = NumberAttribute(null=True)
    by_schedule = CampaignsBySchedule()
    created_at = UTCDateTimeAttribute(default=utcnow)
    progress_seq = IntegerAttribute(null=True)  # the seq of its campaign.progress events (monitoring)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class CampaignLine(Model):
    """One contact of a campaign. ``campaign_key`` is ``"{account_id}#{bulk_call_id}"``; line ids are dense."""

    Meta = _meta("campaign-lines")
    campaign_key = UnicodeAttribute(hash_key=True)
    line_id = IntegerAttribute(range_key=True)
    batch = UnicodeAttribute()
    to_number = UnicodeAttribute()
    custom_variables = JSONAttribute(default=dict)
    metadata = JSONAttribute(default=dict)
    status = UnicodeAttribute()
    attempts = IntegerAttribute(default=0)
    call_id = IntegerAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    not_before = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class ConnectionsByAccount(GlobalSecondaryIndex["MonitorConnection"]):
    class Meta:
        index_name = "by-account"
        projection = AllProjection()

    account_id = IntegerAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)


class RateCounter(Model):
    """A fixed-window counter of one kind of operation of one account (``chalicelib.domain.rate_limits``).
    ``counter_key`` is ``"{kind}#{account_id}#{window start, epoch seconds}"``; TTL removes it after its window."""

    Meta = _meta("rate-counters")
    counter_key = UnicodeAttribute(hash_key=True)
    hits = IntegerAttribute(default=0)
    expires_at = TTLAttribute()


class MonitorConnection(Model):
    """One WebSocket connection to the monitoring API (``chalicelib.monitoring``): a watcher of an account's
    calls, or a streaming task's own link (``kind == "task"``, ``account_id == 0``)."""

    Meta = _meta("monitor-connections")
    connection_id = UnicodeAttribute(hash_key=True)
    account_id = IntegerAttribute()
    kind = UnicodeAttribute(default="watcher")  # "watcher" | "task"
    task_id = UnicodeAttribute(null=True)
    subscription = JSONAttribute(default=dict)  # {"all": bool, "calls": [ids], "campaigns": [ids]}
    subscribed_at = NumberAttribute(null=True)  # epoch seconds of the last subscribe
    connected_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute()
    by_account = ConnectionsByAccount()


class StatusBeat(Model):
    """One result of one status monitor (``chalicelib.status``): the probe writes one per monitor per run;
    TTL removes it after 48 hours (the public heartbeat reads the last 24)."""

    Meta = _meta("status-beats")
    monitor_id = IntegerAttribute(hash_key=True)
    beat_at = IntegerAttribute(range_key=True)  # epoch seconds (UTC)
    status = IntegerAttribute()  # 0 down, 1 up, 2 pending, 3 maintenance (Uptime Kuma's codes)
    ping_ms = IntegerAttribute(null=True)
    msg = UnicodeAttribute(default="")
    expires_at = TTLAttribute()


ALL_MODELS: tuple[type[Model], ...] = (
    Account,
    ApiKey,
    Sequence,
    Agent,
    PostCallAction,
    IdempotencyRecord,
    UniqueClaim,
    PhoneNumber,
    Call,
    Campaign,
    CampaignLine,
    Delivery,
    RateCounter,
    WidgetKey,
    MonitorConnection,
    StatusBeat,
)


def ttl_attribute_name(model: type[Model]) -> str | None:
    """The attribute DynamoDB's TTL reads for ``model`` (infra/ and the local stack enable it), if any."""
    for attribute in model.get_attributes().values():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None
