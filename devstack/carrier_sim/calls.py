"""Calls as the Twilio stand-in records them: the call resource, its callbacks, and Twilio's constants."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from devstack.carrier_sim.media import MediaSession
from devstack.carrier_sim.scheduling import Lane
from devstack.carrier_sim.twiml import StreamHook

if TYPE_CHECKING:
    from devstack.carrier_sim.machine_rules import MachineRules

API_VERSION = "2010-04-01"
DIRECTION = "outbound-api"
CALLBACK_SOURCE = "call-progress-events"
EVENTS = ("initiated", "ringing", "answered", "completed")
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# SipResponseCode sent with each final status (the SIP final response a carrier would typically give).
SIP_RESPONSE_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 404}
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_TIMEOUT = 600
DEFAULT_TIMEOUT = 60
MACHINE_DETECTION_MODES = ("Enable", "DetectMessageEnd")
DEFAULT_MACHINE_DETECTION_TIMEOUT = 30


@dataclass(frozen=True)
class AmdSettings:
    """The answering machine detection a call was placed with (``MachineDetection`` and friends)."""

    machine_detection: str  # Enable or DetectMessageEnd
    async_amd: bool
    status_callback: str | None
    status_callback_method: str = "POST"
    timeout: int = DEFAULT_MACHINE_DETECTION_TIMEOUT

    def to_json(self) -> dict[str, Any]:
        return {"machine_detection": self.machine_detection, "async_amd": self.async_amd,
                "async_amd_status_callback": self.status_callback,
                "async_amd_status_callback_method": self.status_callback_method,
                "machine_detection_timeout": self.timeout}


@dataclass
class CallbackRecord:
    """One status callback: what was sent where, and how the receiver answered."""

    event: str
    call_status: str
    sequence: int
    url: str
    method: str
    queued_at: float
    sent_at: float | None = None  # the latest attempt
    finished_at: float | None = None  # delivered, refused, or out of retries
    http_status: int | None = None
    error: str | None = None
    attempts: int = 0
    answered_by: str | None = None  # AMD callbacks: the AnsweredBy they carried

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    def to_json(self) -> dict[str, Any]:
        data = {"event": self.event, "call_status": self.call_status, "sequence": self.sequence,
                "url": self.url, "method": self.method, "queued_at": iso(self.queued_at),
                "sent_at": iso(self.sent_at), "finished_at": iso(self.finished_at),
                "http_status": self.http_status, "error": self.error, "attempts": self.attempts}
        if self.answered_by is not None:
            data["answered_by"] = self.answered_by
        return data


@dataclass
class SimCall:
    """Everything the simulator knows about one call."""

    sid: str
    account_sid: str
    auth_token: str = field(repr=False)
    to: str = ""
    from_: str = ""
    twiml: str | None = None
    url: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    events: frozenset[str] = frozenset()
    timeout: int = DEFAULT_TIMEOUT
    outcome: str = "answered"
    talk_time: float = 0.0
    status: str = "queued"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    initiated_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    duration: int | None = None
    ended_by: str | None = None
    sequence: int = 0
    callbacks: list[CallbackRecord] = field(default_factory=list)
    stream: StreamHook | None = None
    twiml_fetch: dict[str, Any] | None = None
    twiml_error: str | None = None
    media: MediaSession | None = field(default=None, repr=False)
    media_record: MediaSession | None = field(default=None, repr=False)  # kept after the call ends
    script: list[dict[str, Any]] | None = field(default=None, repr=False)
    final_callback_delay: float = 0.0  # the rules' value when the call was created
    lane: Lane = field(default_factory=Lane, repr=False)
    answerer: str = "human"  # who picks up if the call is answered: human or machine (the rules decide)
    machine: MachineRules | None = field(default=None, repr=False)  # the rules' machine when the call was created
    amd: AmdSettings | None = None
    answered_by: str | None = None  # the AMD result (human, machine_start, machine_end_beep, unknown)
    amd_callbacks: list[CallbackRecord] = field(default_factory=list)
    amd_lane: Lane = field(default_factory=Lane, repr=False)  # AMD results do not wait for status callbacks
    direction: str = DIRECTION  # "outbound-api", or "inbound" for a call placed to one of the account's numbers
    sip_username: str | None = None  # a sip: To: the SipAuthUsername it was placed with
    sip_response_code: int | None = None  # a SIP trunk's refusal (401, 403): the failed call's SipResponseCode

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def api_status(self) -> str:
        """The status the REST resource shows (Twilio's resource has no ``initiated`` status)."""
        return "queued" if self.status == "initiated" else self.status

    def set_status(self, status: str, at: float) -> None:
        self.status = status
        self.updated_at = at

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def resource(self) -> dict[str, Any]:
        """The call as Twilio's REST API represents it."""
        base = self.uri()[: -len(".json")]
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "annotation": None,
            "answered_by": self.answered_by,
            "caller_name": None,
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(self.updated_at),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": rfc2822(self.ended_at),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "start_time": rfc2822(self.initiated_at),
            "status": self.api_status,
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "payments": f"{base}/Payments.json",
                "events": f"{base}/Events.json",
                "siprec": f"{base}/Siprec.json",
                "streams": f"{base}/Streams.json",
                "transcriptions": f"{base}/Transcriptions.json",
                "user_defined_message_subscriptions": f"{base}/UserDefinedMessageSubscriptions.json",
                "user_defined_messages": f"{base}/UserDefinedMessages.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri(),
        }

    def inspection(self) -> dict[str, Any]:
        """The call as ``/sim/calls`` shows it: outcome, timeline, TwiML findings and callbacks.

        ``outcome`` is the final status once the call is over (completed, busy, no-answer, failed or
        canceled; null while it is live); ``planned_outcome`` is what the rules decided when the call
        was created (answered, busy, no-answer or failed), which a hang-up can still pre-empt.
        ``answerer`` is who picks up if it is answered (human or machine); ``answered_by`` the
        AMD result once there is one; ``machine_detection`` the AMD parameters the call was placed
        with (null: no AMD); ``amd_callbacks`` the AsyncAmdStatusCallback sent.
        """
        return {
            "sid": self.sid, "account_sid": self.account_sid, "to": self.to, "from": self.from_,
            "direction": self.direction, "status": self.status, "final": self.is_final,
            "outcome": self.status if self.is_final else None, "planned_outcome": self.outcome,
            "talk_time": self.talk_time, "duration": self.duration, "ended_by": self.ended_by,
            "timeout": self.timeout, "url": self.url, "has_twiml": self.twiml is not None,
            "status_callback": self.status_callback, "status_callback_method": self.status_callback_method,
            "status_callback_events": sorted(self.events, key=EVENTS.index),
            "created_at": iso(self.created_at), "initiated_at": iso(self.initiated_at),
            "ringing_at": iso(self.ringing_at), "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "stream": self.stream.to_json() if self.stream else None,
            "media": media_inspection(self.media_record),
            "twiml_fetch": self.twiml_fetch, "twiml_error": self.twiml_error,
            "callbacks": [cb.to_json() for cb in self.callbacks],
            "answerer": self.answerer, "answered_by": self.answered_by,
            "machine_detection": self.amd.to_json() if self.amd else None,
            "amd_callbacks": [cb.to_json() for cb in self.amd_callbacks],
            "sip_auth_username": self.sip_username, "sip_response_code": self.final_sip_code(),
        }

    def final_sip_code(self) -> int | None:
        """The SIP final response reported with the call's end (None while it is live)."""
        if not self.is_final:
            return None
        return self.sip_response_code if self.sip_response_code is not None else SIP_RESPONSE_CODES[self.status]

    def voice_params(self, call_status: str) -> dict[str, str]:
        """The parameters Twilio sends about a call in every voice webhook."""
        return {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": self.sid,
            "CallStatus": call_status, "Called": self.to, "Caller": self.from_, "Direction": self.direction,
            "From": self.from_, "To": self.to,
        }


def media_inspection(media: MediaSession | None) -> dict[str, Any] | None:
    """What a media session reports about itself (sessions with an ``inspection()`` method)."""
    inspect = getattr(media, "inspection", None)
    if inspect is None:
        return None
    try:
        return inspect()
    except Exception as exc:
        return {"error": f"inspection failed: {exc!r}"}


def rfc2822(ts: float | None) -> str | None:
    """A Unix time in the RFC 2822 form Twilio uses for dates (``Tue, 31 Aug 2010 20:36:28 +0000``)."""
    return None if ts is None else format_datetime(datetime.fromtimestamp(ts, UTC))


def iso(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC with milliseconds (for ``/sim/`` output)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


MediaFactory = Callable[[SimCall], MediaSession]
"""Builds the :class:`~devstack.carrier_sim.media.MediaSession` of each answered call."""
