"""Bulk call (campaign) bodies, field for field with the ``omnidimension`` SDK's BulkCall module."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from chalicelib.schemas.common import E164, Flag, Id, Out, Page, Strict, Timezone

CampaignStatus = Literal["draft", "scheduled", "in_progress", "paused", "completed", "cancelled"]
LineStatus = Literal["queued", "ringing", "in_progress", "completed", "failed", "busy", "no_answer"]
Variables = dict[str, Any]
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_CONTACTS_PER_REQUEST = 1000


class RetryConfig(Strict):
    auto_retry: Flag = False
    auto_retry_schedule: Annotated[str, Field(max_length=64)] | None = None
    retry_schedule_days: Annotated[int, Field(ge=0, le=30)] = 0
    retry_schedule_hours: Annotated[float, Field(ge=0, le=720)] = 0
    retry_delay_seconds: Annotated[int, Field(ge=0, le=30 * 86400)] | None = Field(
        default=None, description="Parley extension: the delay before a retry, in seconds (overrides days/hours).")
    retry_limit: Annotated[int, Field(ge=0, le=10)] = 1

    def delay_seconds(self) -> int:
        if self.retry_delay_seconds is not None:
            return self.retry_delay_seconds
        return int(self.retry_schedule_days * 86400 + self.retry_schedule_hours * 3600)


class CreateContact(Strict):
    """A contact in ``contact_list``: ``phone_number`` plus any variables for the call."""

    model_config = ConfigDict(extra="allow", strict=True)
    phone_number: E164


class Contact(Strict):
    to_number: E164
    custom_variables: Variables | None = None
    metadata: Variables | None = None


class BulkCallCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    contact_list: Annotated[list[CreateContact], Field(min_length=1, max_length=MAX_CONTACTS_PER_REQUEST)]
    phone_number_id: Id
    bot_id: Id | None = None
    is_scheduled: Flag = False
    scheduled_datetime: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")] | None = None
    timezone: Timezone = "UTC"
    retry_config: RetryConfig | None = None
    enabled_reschedule_call: Flag = False
    save_as_draft: Flag = False
    call_conditions: Annotated[list[dict[str, Any]], Field(max_length=50)] | None = None
    rotation: dict[str, Any] | None = None
    concurrent_call_limit: Annotated[int, Field(ge=1, le=1000)] = 5

    @model_validator(mode="after")
    def _schedule(self) -> BulkCallCreate:
        if self.is_scheduled and not self.scheduled_datetime:
            raise ValueError("scheduled_datetime is required when is_scheduled is true")
        if self.scheduled_datetime:
            datetime.strptime(self.scheduled_datetime, DATETIME_FORMAT)
        return self


class BulkCallAction(Strict):
    action: Literal["pause", "resume", "reschedule"]
    new_timezone: Timezone | None = None
    new_scheduled_datetime: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")] | None = None

    @model_validator(mode="after")
    def _reschedule(self) -> BulkCallAction:
        if self.action == "reschedule" and not self.new_scheduled_datetime:
            raise ValueError("new_scheduled_datetime is required for reschedule")
        if self.new_scheduled_datetime:
            datetime.strptime(self.new_scheduled_datetime, DATETIME_FORMAT)
        return self


class AddContacts(Strict):
    contacts: Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS_PER_REQUEST)]


class Concurrency(Strict):
    concurrent_call_limit: Annotated[int, Field(ge=1, le=1000)]


class DailyTimeControl(Strict):
    enable_daily_hard_stop: Flag
    enable_daily_auto_start: Flag
    daily_stop_time: Annotated[float, Field(ge=0, lt=24)] | None = None
    daily_stop_timezone: Timezone | None = None
    daily_start_time: Annotated[float, Field(ge=0, lt=24)] | None = None
    daily_start_timezone: Timezone | None = None

    @model_validator(mode="after")
    def _times(self) -> DailyTimeControl:
        if self.enable_daily_hard_stop and self.daily_stop_time is None:
            raise ValueError("daily_stop_time is required when enable_daily_hard_stop is true")
        if self.enable_daily_auto_start and self.daily_start_time is None:
            raise ValueError("daily_start_time is required when enable_daily_auto_start is true")
        return self


class BulkCallListQuery(Page):
    model_config = ConfigDict(extra="ignore", strict=False)
    status: CampaignStatus | None = None


class LinesQuery(Strict):
    model_config = ConfigDict(extra="ignore", strict=False)
    pagesize: Annotated[int, Field(ge=1, le=150)] = 50
    cursor: Annotated[str, Field(max_length=64, pattern=r"^[0-9]+$")] | None = None
    call_status: LineStatus | Literal["dialing", "cancelled"] | None = None
    interaction_status: Annotated[str, Field(max_length=32)] | None = None
    search: Annotated[str, Field(max_length=64)] | None = None
    include_total: bool = False


class Summary(Out):
    total_contacts: int
    queued: int
    in_progress: int
    completed: int
    failed: int
    busy: int
    no_answer: int


class LiveStatus(Out):
    status: str = "success"
    bulk_call_id: int
    campaign_status: CampaignStatus
    summary: Summary


class BulkCallOut(Out):
    id: int
    name: str
    bot_id: int
    phone_number_id: int
    campaign_status: CampaignStatus
    concurrent_call_limit: int
    summary: Summary
    is_scheduled: bool
    scheduled_datetime: str | None = None
    timezone: str
    retry_config: RetryConfig | None = None
    daily_time_control: DailyTimeControl | None = None
    created_at: datetime
    updated_at: datetime


class BulkCallResult(Out):
    status: str = "success"
    message: str
    bulk_call: BulkCallOut


class BulkCallList(Out):
    status: str = "success"
    bulk_calls: list[BulkCallOut]
    total_records: int
    pageno: int
    pagesize: int


class LineOut(Out):
    line_id: int
    to_number: str
    call_status: str
    attempts: int
    call_id: int | None = None
    reason: str | None = None
    custom_variables: Variables
    metadata: Variables
    updated_at: datetime


class LinesPage(Out):
    status: str = "success"
    lines: list[LineOut]
    next_cursor: str | None = None
    total: int | None = None


class ContactsAdded(Out):
    status: str = "success"
    added: int
    line_ids: list[int]
    summary: Summary
