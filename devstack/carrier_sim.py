"""A carrier simulator that speaks Twilio's Voice REST API and sends real, signed status callbacks.

What it serves (on 127.0.0.1, any free port by default):

* ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``: create an outbound call (form-encoded,
  HTTP Basic auth ``AccountSid:AuthToken``), answered ``201`` with a Twilio-shaped call resource.
* ``GET  /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``: fetch the call resource.
* ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Status=completed`` or
  ``Status=canceled``: hang up / cancel the call.
* ``/sim/...``: inspection and control for tests and the local stack (``GET /sim/calls``,
  ``GET /sim/calls/{CallSid}``, ``GET|PUT /sim/rules``, ``GET /sim/stats``, ``POST /sim/reset``).

How a call lives (Twilio's outbound-api call progress):

``queued`` (the API answer) -> ``initiated`` (dialling starts, at once) -> ``ringing`` (at once,
unless the outcome is ``busy`` or ``failed``, which never ring) -> after ``answer_delay`` seconds
either a final ``busy`` / ``no-answer`` / ``failed``, or ``in-progress`` (answered). An answered
call's TwiML (inline ``Twiml``, or fetched from ``Url`` with a signed request as Twilio does) is
parsed for ``<Connect><Stream>`` and handed to a :class:`MediaSession`; the default
:class:`NoMedia` holds the call for its talk time and then the callee hangs up (``completed``, with
``CallDuration``); with ``--voice`` (:func:`devstack.caller_voice.scripted_media_factory`) a
``<Connect><Stream>`` call instead gets a scripted caller that speaks on the Media Stream (see
:mod:`devstack.caller_voice`; scripts per To number via ``/sim/rules``). A ``Timeout`` (ring
time) shorter than ``answer_delay`` turns an answer into ``no-answer``, as a real ring timeout would.

Status callbacks follow Twilio's ``StatusCallbackEvent`` semantics: ``initiated`` (reported with
``CallStatus=initiated``; Twilio's call resource never shows that status, so the API keeps saying
``queued`` until it rings), ``ringing``, ``answered`` (``CallStatus=in-progress``) and
``completed`` (``CallStatus`` = the final status, whichever it is: completed, busy, no-answer,
failed or canceled). With a ``StatusCallback`` and no ``StatusCallbackEvent``, only ``completed``
is sent, as Twilio does. Every callback carries Twilio's parameters and an ``X-Twilio-Signature``
computed with the auth token the call was created with; callbacks of one call are delivered in
order, one at a time, callbacks of different calls in parallel.

Nothing blocks per call: one scheduler thread (a heap of due times) drives every call's life, and a
small thread pool does the network work (callbacks and TwiML fetches), so thousands of simulated
calls can be live at once.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import heapq
import itertools
import json
import logging
import random
import re
import signal
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from chalicelib.telephony.twilio_signature import SIGNATURE_HEADER, compute_signature

log = logging.getLogger("parley.carrier_sim")

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
TWILIO_USER_AGENT = "TwilioProxy/1.1"

_CALLS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
_SIM_CALL_PATH = re.compile(r"^/sim/calls/(?P<sid>[^/]+)$")


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

class RulesError(ValueError):
    """Rules that cannot be used (bad probabilities, negative delays, malformed JSON)."""


@dataclass(frozen=True)
class OutcomeProbabilities:
    """Chances that a dialled call ends busy, unanswered or failed; the rest are answered."""

    busy: float = 0.0
    no_answer: float = 0.0
    failed: float = 0.0

    def validate(self) -> None:
        """Raise :class:`RulesError` unless each chance is in [0, 1] and together they are <= 1."""
        for name in ("busy", "no_answer", "failed"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise RulesError(f"{name} must be a probability between 0 and 1, got {value!r}")
        if self.busy + self.no_answer + self.failed > 1.0 + 1e-9:
            raise RulesError("busy + no_answer + failed must not exceed 1")

    def draw(self, rng: random.Random) -> str:
        """One outcome ("answered", "busy", "no-answer" or "failed") drawn with these chances."""
        roll = rng.random()
        for outcome, chance in (("busy", self.busy), ("no-answer", self.no_answer), ("failed", self.failed)):
            if roll < chance:
                return outcome
            roll -= chance
        return "answered"

    def to_json(self) -> dict[str, float]:
        """The JSON form used by ``/sim/rules``."""
        return {"busy": self.busy, "no_answer": self.no_answer, "failed": self.failed}

    @classmethod
    def from_json(cls, data: Any) -> OutcomeProbabilities:
        """Parse ``{"busy": .., "no_answer": .., "failed": ..}`` (missing keys are 0)."""
        if not isinstance(data, Mapping):
            raise RulesError("outcome probabilities must be an object")
        unknown = set(data) - {"busy", "no_answer", "no-answer", "failed"}
        if unknown:
            raise RulesError(f"unknown outcome(s): {', '.join(sorted(unknown))}")
        probs = cls(busy=data.get("busy", 0.0), no_answer=data.get("no_answer", data.get("no-answer", 0.0)),
                    failed=data.get("failed", 0.0))
        probs.validate()
        return probs


# The documented by-number test rules: the To number's last digit forces an outcome.
NUMBER_RULES: dict[str, str] = {"0": "busy", "9": "no-answer", "8": "failed"}


@dataclass
class SimRules:
    """How the simulated network treats calls.

    Outcome precedence: the by-number rules (when ``number_rules`` is on, a To number ending in 0
    is busy, 9 no-answer, 8 failed), then the call's From number's entry in ``from_rules``, then
    the default ``outcomes``. ``talk_time`` is a fixed number of seconds or a ``(min, max)`` range
    drawn uniformly. ``seed`` seeds the simulator's random generator (None: unseeded), so the same
    rules and the same sequence of calls give the same outcomes.

    Caller scripts (for the voiced callee, :mod:`devstack.caller_voice`; see its docstring for the
    step format): ``scripts`` maps a To number to the script its calls play, ``script`` is the
    script of every other number (None: the built-in default script).
    """

    outcomes: OutcomeProbabilities = field(default_factory=OutcomeProbabilities)
    answer_delay: float = 0.5
    talk_time: float | tuple[float, float] = 1.0
    number_rules: bool = True
    from_rules: dict[str, OutcomeProbabilities] = field(default_factory=dict)
    seed: int | None = 0
    script: list[dict[str, Any]] | None = None
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`RulesError` for unusable rules."""
        self.outcomes.validate()
        from devstack.caller_voice import ScriptError, parse_script  # stdlib-only at import time

        for number, script in ((None, self.script), *self.scripts.items()):
            if number is not None and not E164.match(number):
                raise RulesError(f"scripts key {number!r} is not an E.164 number")
            if script is not None:
                try:
                    parse_script(script)
                except ScriptError as exc:
                    raise RulesError(f"script{'' if number is None else ' for ' + number}: {exc}") from exc
        for number, probs in self.from_rules.items():
            if not E164.match(number):
                raise RulesError(f"from_rules key {number!r} is not an E.164 number")
            probs.validate()
        if not isinstance(self.answer_delay, (int, float)) or self.answer_delay < 0:
            raise RulesError("answer_delay must be a number of seconds >= 0")
        low, high = self.talk_time_range()
        if low < 0 or high < low:
            raise RulesError("talk_time must be seconds >= 0, or [min, max] with 0 <= min <= max")

    def talk_time_range(self) -> tuple[float, float]:
        """``talk_time`` as a ``(min, max)`` pair."""
        if isinstance(self.talk_time, (int, float)):
            return float(self.talk_time), float(self.talk_time)
        low, high = self.talk_time
        return float(low), float(high)

    def outcome_for(self, to: str, from_: str, rng: random.Random) -> str:
        """The outcome of a call from ``from_`` to ``to``, by the precedence described above."""
        if self.number_rules and to[-1:] in NUMBER_RULES:
            return NUMBER_RULES[to[-1]]
        return self.from_rules.get(from_, self.outcomes).draw(rng)

    def script_for(self, to: str) -> list[dict[str, Any]] | None:
        """The caller script for calls to ``to`` (None: the default script)."""
        return self.scripts.get(to, self.script)

    def draw_talk_time(self, rng: random.Random) -> float:
        """How long an answered call lasts before the callee hangs up."""
        low, high = self.talk_time_range()
        return low if low == high else rng.uniform(low, high)

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by ``GET/PUT /sim/rules``."""
        low, high = self.talk_time_range()
        data: dict[str, Any] = {
            "outcomes": self.outcomes.to_json(),
            "answer_delay": self.answer_delay,
            "talk_time": low if low == high else [low, high],
            "number_rules": self.number_rules,
            "from_rules": {number: probs.to_json() for number, probs in self.from_rules.items()},
            "seed": self.seed,
        }
        if self.script is not None:  # caller scripts appear only when set
            data["script"] = self.script
        if self.scripts:
            data["scripts"] = dict(self.scripts)
        return data

    @classmethod
    def from_json(cls, data: Any) -> SimRules:
        """Parse the JSON form; keys left out take their defaults (a PUT replaces all rules)."""
        if not isinstance(data, Mapping):
            raise RulesError("rules must be a JSON object")
        unknown = set(data) - {"outcomes", "answer_delay", "talk_time", "number_rules", "from_rules", "seed",
                               "script", "scripts"}
        if unknown:
            raise RulesError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        talk = data.get("talk_time", 1.0)
        if isinstance(talk, list):
            if len(talk) != 2 or not all(isinstance(v, (int, float)) for v in talk):
                raise RulesError("talk_time range must be [min, max]")
            talk = (float(talk[0]), float(talk[1]))
        elif not isinstance(talk, (int, float)) or isinstance(talk, bool):
            raise RulesError("talk_time must be a number or [min, max]")
        from_rules = data.get("from_rules", {})
        if not isinstance(from_rules, Mapping):
            raise RulesError("from_rules must map From numbers to outcome probabilities")
        seed = data.get("seed", 0)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise RulesError("seed must be an integer or null")
        scripts = data.get("scripts") or {}
        if not isinstance(scripts, Mapping):
            raise RulesError("scripts must map To numbers to caller scripts")
        script = data.get("script")
        if script is not None and not isinstance(script, list):
            raise RulesError("script must be a list of steps or null")
        rules = cls(
            outcomes=OutcomeProbabilities.from_json(data.get("outcomes", {})),
            answer_delay=data.get("answer_delay", 0.5),
            talk_time=talk,
            number_rules=bool(data.get("number_rules", True)),
            from_rules={str(k): OutcomeProbabilities.from_json(v) for k, v in from_rules.items()},
            seed=seed,
            script=script,
            scripts={str(k): v for k, v in scripts.items()},
        )
        rules.validate()
        return rules


# --------------------------------------------------------------------------------------------
# Call records
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamHook:
    """A ``<Stream>`` found in an answered call's TwiML: where media would be streamed."""

    verb: str  # "Connect" (bidirectional) or "Start" (fork)
    url: str
    parameters: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, "url": self.url, "parameters": dict(self.parameters)}


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

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "call_status": self.call_status, "sequence": self.sequence,
                "url": self.url, "method": self.method, "queued_at": _iso(self.queued_at),
                "sent_at": _iso(self.sent_at), "finished_at": _iso(self.finished_at),
                "http_status": self.http_status, "error": self.error, "attempts": self.attempts}


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
    lane: _Lane = field(default_factory=lambda: _Lane(), repr=False)

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
            "answered_by": None,
            "caller_name": None,
            "date_created": _rfc2822(self.created_at),
            "date_updated": _rfc2822(self.updated_at),
            "direction": DIRECTION,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": _rfc2822(self.ended_at),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "start_time": _rfc2822(self.initiated_at),
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
        """
        return {
            "sid": self.sid, "account_sid": self.account_sid, "to": self.to, "from": self.from_,
            "status": self.status, "final": self.is_final,
            "outcome": self.status if self.is_final else None, "planned_outcome": self.outcome,
            "talk_time": self.talk_time, "duration": self.duration, "ended_by": self.ended_by,
            "timeout": self.timeout, "url": self.url, "has_twiml": self.twiml is not None,
            "status_callback": self.status_callback, "status_callback_method": self.status_callback_method,
            "status_callback_events": sorted(self.events, key=EVENTS.index),
            "created_at": _iso(self.created_at), "initiated_at": _iso(self.initiated_at),
            "ringing_at": _iso(self.ringing_at), "answered_at": _iso(self.answered_at),
            "ended_at": _iso(self.ended_at),
            "stream": self.stream.to_json() if self.stream else None,
            "media": _media_inspection(self.media_record),
            "twiml_fetch": self.twiml_fetch, "twiml_error": self.twiml_error,
            "callbacks": [cb.to_json() for cb in self.callbacks],
        }

    def voice_params(self, call_status: str) -> dict[str, str]:
        """The parameters Twilio sends about a call in every voice webhook."""
        return {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": self.sid,
            "CallStatus": call_status, "Called": self.to, "Caller": self.from_, "Direction": DIRECTION,
            "From": self.from_, "To": self.to,
        }


def _media_inspection(media: MediaSession | None) -> dict[str, Any] | None:
    """What a media session reports about itself (sessions with an ``inspection()`` method)."""
    inspect = getattr(media, "inspection", None)
    if inspect is None:
        return None
    try:
        return inspect()
    except Exception as exc:  # noqa: BLE001 - inspection must never break /sim/calls
        return {"error": f"inspection failed: {exc!r}"}


def _rfc2822(ts: float | None) -> str | None:
    """A Unix time in the RFC 2822 form Twilio uses for dates (``Tue, 31 Aug 2010 20:36:28 +0000``)."""
    return None if ts is None else format_datetime(datetime.fromtimestamp(ts, UTC))


def _iso(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC with milliseconds (for ``/sim/`` output)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# TwiML
# --------------------------------------------------------------------------------------------

class TwimlError(ValueError):
    """TwiML that Twilio would refuse to execute (Twilio's error 12100, document parse failure)."""


def parse_stream_hook(twiml: str) -> StreamHook | None:
    """The ``<Connect><Stream>`` (or ``<Start><Stream>``) in a TwiML document, if any."""
    try:
        root = ET.fromstring(twiml.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"TwiML root element must be <Response>, got <{root.tag}>")
    for verb in ("Connect", "Start"):
        stream = root.find(f"{verb}/Stream")
        if stream is not None:
            url = stream.get("url")
            if not url:
                raise TwimlError(f"<{verb}><Stream> has no url attribute")
            params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")}
            return StreamHook(verb=verb, url=url, parameters=params)
    return None


# --------------------------------------------------------------------------------------------
# Media: what happens on an answered call (a plug-in point for Media Streams)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MediaContext:
    """What a media session gets when its call is answered.

    ``schedule(delay, fn)`` runs ``fn`` on the simulator's scheduler after ``delay`` seconds;
    ``hang_up()`` ends the call as the callee hanging up (``completed``; harmless if it already
    ended); ``end_call(by)`` does the same and records ``by`` as the call's ``ended_by`` (e.g.
    ``stream-ended`` when the media server closed a ``<Connect>`` stream). ``stream`` is the call's
    ``<Stream>`` (None if its TwiML has none). A session may also offer ``inspection() -> dict``,
    shown as the ``media`` section of ``/sim/calls``.
    """

    call_sid: str
    account_sid: str
    to: str
    from_: str
    stream: StreamHook | None
    talk_time: float
    schedule: Callable[[float, Callable[[], None]], None]
    hang_up: Callable[[], None]
    end_call: Callable[[str], None] | None = None


class MediaSession(Protocol):
    """The media side of one answered call. Neither method may block the caller."""

    def start(self, ctx: MediaContext) -> None:
        """The call was answered; begin (e.g. open the Media Streams WebSocket)."""

    def stop(self) -> None:
        """The call ended for any reason (API hang-up, callee hang-up, reset); release everything."""


MediaFactory = Callable[[SimCall], MediaSession]


class NoMedia:
    """The default: no audio at all; the callee stays on the line for the talk time, then hangs up."""

    def start(self, ctx: MediaContext) -> None:
        ctx.schedule(ctx.talk_time, ctx.hang_up)

    def stop(self) -> None:
        return None


def no_media(_call: SimCall) -> MediaSession:
    """A :data:`MediaFactory` that gives every call :class:`NoMedia`."""
    return NoMedia()


# --------------------------------------------------------------------------------------------
# Scheduling and ordered delivery
# --------------------------------------------------------------------------------------------

class Scheduler:
    """Runs callables at due times on a single worker thread (a heap guarded by a condition)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cv = threading.Condition()
        self._counter = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="carrier-sim-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` seconds (0: as soon as possible, after earlier due work)."""
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._counter), fn))
            self._cv.notify()

    def clear(self) -> None:
        """Drop everything not yet run."""
        with self._cv:
            self._heap.clear()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._heap.clear()
            self._cv.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _next_due(self) -> Callable[[], None] | None:
        """Wait for the next due callable; None once stopped."""
        with self._cv:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)[2]
                    self._cv.wait(wait)
                else:
                    self._cv.wait()
            return None

    def _run(self) -> None:
        while (fn := self._next_due()) is not None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - one bad step must not stop every other call
                log.exception("carrier simulator step failed")


class _Lane:
    """A per-call FIFO of network tasks, so one call's callbacks go out in order."""

    def __init__(self) -> None:
        self.tasks: deque[Callable[[], None]] = deque()
        self.busy = False


class LaneRunner:
    """Runs each lane's tasks one after another on a shared pool; different lanes run in parallel."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()

    def submit(self, lane: _Lane, task: Callable[[], None]) -> None:
        with self._lock:
            lane.tasks.append(task)
            if lane.busy:
                return
            lane.busy = True
        try:
            self._pool.submit(self._drain, lane)
        except RuntimeError:  # the pool is shut down: the simulator is stopping
            with self._lock:
                lane.busy = False
                lane.tasks.clear()

    def _drain(self, lane: _Lane) -> None:
        while True:
            with self._lock:
                if not lane.tasks:
                    lane.busy = False
                    return
                task = lane.tasks.popleft()
            try:
                task()
            except Exception:  # noqa: BLE001
                log.exception("carrier simulator delivery task failed")


# --------------------------------------------------------------------------------------------
# Errors in Twilio's shape
# --------------------------------------------------------------------------------------------

@dataclass
class TwilioError(Exception):
    """An API error answered as Twilio does: ``{"code", "message", "more_info", "status"}``."""

    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}


def _authenticate_error() -> TwilioError:
    return TwilioError(401, 20003, "Authenticate")


def _not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallRequest:
    """A validated ``POST .../Calls.json``."""

    to: str
    from_: str
    twiml: str | None
    url: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_call_request(form: Mapping[str, list[str]]) -> CallRequest:
    """Validate create-call parameters the way Twilio does, raising :class:`TwilioError` (400).

    Error codes checked against Twilio's error reference: 21211 (invalid To), 21208 (invalid
    Timeout), 21626 (invalid StatusCallbackEvent), 21609 (invalid StatusCallback URL; documented
    for Messaging). From memory of Twilio's API, not re-checked: 21201 (no To), 21213 (no From),
    21212 (invalid From), 21205 (Url missing or invalid). 20001 is used for other bad parameters.
    """
    to, from_ = (_first(form, "To") or "").strip(), (_first(form, "From") or "").strip()
    if not to:
        raise TwilioError(400, 21201, "No 'To' number is specified")
    if not E164.match(to):
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not from_:
        raise TwilioError(400, 21213, "No 'From' number is specified")
    if not E164.match(from_):
        raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    url, twiml = _first(form, "Url"), _first(form, "Twiml")
    if not url and not twiml:
        raise TwilioError(400, 21205, "Either Url or Twiml is required")
    if url and not _is_http_url(url):
        raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
    if url:
        twiml = None  # Twilio: when both are given, Twiml is ignored
    method = (_first(form, "Method") or "POST").upper()
    callback_method = (_first(form, "StatusCallbackMethod") or "POST").upper()
    for name, value in (("Method", method), ("StatusCallbackMethod", callback_method)):
        if value not in ("GET", "POST"):
            raise TwilioError(400, 20001, f"{name} must be GET or POST, got {value}")
    callback = _first(form, "StatusCallback")
    if callback and not _is_http_url(callback):
        raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
    events = frozenset(e.lower() for raw in form.get("StatusCallbackEvent", []) for e in raw.split())
    bad = events - set(EVENTS)
    if bad:
        raise TwilioError(400, 21626, f"Invalid StatusCallbackEvent: {', '.join(sorted(bad))}")
    timeout_raw = _first(form, "Timeout")
    timeout = DEFAULT_TIMEOUT
    if timeout_raw is not None:
        if not timeout_raw.strip().isdigit() or int(timeout_raw) < 1:
            raise TwilioError(400, 21208, f"Invalid Timeout: {timeout_raw}")
        timeout = min(int(timeout_raw), MAX_TIMEOUT)
    return CallRequest(to=to, from_=from_, twiml=twiml, url=url, method=method, status_callback=callback,
                       status_callback_method=callback_method, events=events or frozenset({"completed"}),
                       timeout=timeout)


class CarrierSimulator:
    """The simulated carrier: an HTTP server speaking Twilio's Calls API plus the call scheduler.

    ``accounts`` optionally maps AccountSid to AuthToken; when given, only those credentials are
    accepted. Without it any ``AccountSid:AuthToken`` pair is accepted (the token then signs that
    call's callbacks), which suits tests and the local stack. ``media_factory`` builds the
    :class:`MediaSession` for each answered call.
    """

    def __init__(self, rules: SimRules | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 accounts: Mapping[str, str] | None = None, media_factory: MediaFactory = no_media,
                 delivery_workers: int = 16, callback_timeout: float = 10.0, callback_retries: int = 2) -> None:
        self.rules = rules or SimRules()
        self.rules.validate()
        self.accounts = dict(accounts) if accounts is not None else None
        self.media_factory = media_factory
        self.callback_timeout = callback_timeout
        self.callback_retries = callback_retries
        self._lock = threading.RLock()
        self._rng = random.Random(self.rules.seed)
        self._calls: dict[str, SimCall] = {}
        self._final_counts: Counter[str] = Counter()
        self._in_progress = 0
        self._max_in_progress = 0
        self._scheduler = Scheduler()
        self._pool = ThreadPoolExecutor(max_workers=delivery_workers, thread_name_prefix="carrier-sim-net")
        self._lanes = LaneRunner(self._pool)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._server = _SimHTTPServer((host, port), self)
        self._server_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the simulator, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CarrierSimulator:
        """Start serving and scheduling in background threads; returns self."""
        self._scheduler.start()
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                               name="carrier-sim-http", daemon=True)
        self._server_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop calls still in flight and release threads and sockets."""
        self._server.shutdown()
        self._server.server_close()
        self._scheduler.stop()
        with self._lock:
            for call in self._calls.values():
                self._stop_media(call)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for session in list(self._sessions):
            session.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ------------------------------------------------------------------------------

    def set_rules(self, rules: SimRules) -> None:
        """Replace the rules (and reseed the random generator when they carry a seed)."""
        rules.validate()
        with self._lock:
            self.rules = rules
            if rules.seed is not None:
                self._rng.seed(rules.seed)

    def reset(self) -> None:
        """Forget every call and statistic, drop scheduled work and reseed the random generator."""
        with self._lock:
            self._scheduler.clear()
            for call in self._calls.values():
                self._stop_media(call)
            self._calls.clear()
            self._final_counts.clear()
            self._in_progress = 0
            self._max_in_progress = 0
            self._rng.seed(self.rules.seed)

    def calls(self) -> list[dict[str, Any]]:
        """Every call as ``GET /sim/calls`` shows it, oldest first."""
        with self._lock:
            return [call.inspection() for call in self._calls.values()]

    def call(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(sid)
            return call.inspection() if call else None

    def stats(self) -> dict[str, Any]:
        """Counts by final outcome, live calls by status, answered concurrency and callback totals."""
        with self._lock:
            live = Counter(call.api_status for call in self._calls.values() if not call.is_final)
            callbacks = [cb for call in self._calls.values() for cb in call.callbacks]
            return {
                "calls": len(self._calls),
                "final": dict(self._final_counts),
                "live": dict(live),
                "in_progress": self._in_progress,
                "max_in_progress": self._max_in_progress,
                "callbacks": {
                    "total": len(callbacks),
                    "delivered": sum(cb.delivered for cb in callbacks),
                    "failed": sum(cb.finished_at is not None and not cb.delivered for cb in callbacks),
                    "pending": sum(cb.finished_at is None for cb in callbacks),
                },
            }

    # -- REST API -----------------------------------------------------------------------------

    def authenticate(self, path_account: str, authorization: str | None) -> str:
        """Check HTTP Basic credentials against the URL's AccountSid; returns the auth token."""
        if not authorization or not authorization.lower().startswith("basic "):
            raise _authenticate_error()
        try:
            user, sep, token = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _authenticate_error() from exc
        if not sep or not token or user != path_account:
            raise _authenticate_error()
        if self.accounts is not None and self.accounts.get(user) != token:
            raise _authenticate_error()
        return token

    def create_call(self, account_sid: str, auth_token: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """Accept a new call (status ``queued``) and schedule its life; returns the resource."""
        request = parse_call_request(form)
        with self._lock:
            call = SimCall(
                sid="CA" + uuid.uuid4().hex, account_sid=account_sid, auth_token=auth_token,
                to=request.to, from_=request.from_, twiml=request.twiml, url=request.url,
                method=request.method, status_callback=request.status_callback,
                status_callback_method=request.status_callback_method, events=request.events,
                timeout=request.timeout, outcome=self.rules.outcome_for(request.to, request.from_, self._rng),
                talk_time=self.rules.draw_talk_time(self._rng), script=self.rules.script_for(request.to),
            )
            self._calls[call.sid] = call
            answer_delay = float(self.rules.answer_delay)
            self._scheduler.call_later(0, lambda: self._dial(call, answer_delay))
            return call.resource()

    def fetch_call(self, account_sid: str, sid: str, path: str) -> dict[str, Any]:
        with self._lock:
            return self._owned_call(account_sid, sid, path).resource()

    def update_call(self, account_sid: str, sid: str, path: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """``Status=completed`` hangs up (any live call); ``Status=canceled`` cancels one not yet answered."""
        status = _first(form, "Status")
        if status is None:
            raise TwilioError(400, 20001, "This simulator only supports updating a call's Status")
        if status not in ("completed", "canceled"):
            raise TwilioError(400, 20001, f"Invalid Status: {status}; use completed or canceled")
        with self._lock:
            call = self._owned_call(account_sid, sid, path)
            if not call.is_final:
                if call.status == "in-progress":
                    if status == "completed":
                        self._end(call, "completed", by="api")
                else:
                    self._end(call, "canceled", by="api")
            return call.resource()

    def _owned_call(self, account_sid: str, sid: str, path: str) -> SimCall:
        call = self._calls.get(sid)
        if call is None or call.account_sid != account_sid:
            raise _not_found(path)
        return call

    # -- a call's life (runs on the scheduler thread, or an API thread for hang-ups) ------------

    def _dial(self, call: SimCall, answer_delay: float) -> None:
        """Dialling starts: ``initiated``, then ``ringing`` unless the line is busy or the call fails."""
        with self._lock:
            if not self._is_live(call, "queued"):
                return
            now = time.time()
            call.initiated_at = now
            call.set_status("initiated", now)
            self._emit(call, "initiated", "initiated")
            delay = answer_delay
            if call.outcome in ("answered", "no-answer"):
                call.ringing_at = now
                call.set_status("ringing", now)
                self._emit(call, "ringing", "ringing")
                if call.outcome == "answered" and call.timeout < answer_delay:
                    call.outcome, delay = "no-answer", float(call.timeout)
            self._scheduler.call_later(delay, lambda: self._settle(call))

    def _settle(self, call: SimCall) -> None:
        """The far end answers, or the attempt ends busy / no-answer / failed."""
        with self._lock:
            if call.is_final or self._calls.get(call.sid) is not call:
                return
            if call.outcome == "answered":
                self._answer(call)
            else:
                self._end(call, call.outcome, by="carrier")

    def _answer(self, call: SimCall) -> None:
        now = time.time()
        call.answered_at = now
        call.set_status("in-progress", now)
        self._in_progress += 1
        self._max_in_progress = max(self._max_in_progress, self._in_progress)
        self._emit(call, "answered", "in-progress")
        if call.url:
            self._pool_submit(lambda: self._fetch_twiml(call))
        else:
            self._run_twiml(call, call.twiml or "")

    def _run_twiml(self, call: SimCall, twiml: str) -> None:
        """Look for a ``<Stream>`` in the call's TwiML and start its media session."""
        with self._lock:
            if not self._is_live(call, "in-progress"):
                return
            try:
                call.stream = parse_stream_hook(twiml)
            except TwimlError as exc:
                call.twiml_error = str(exc)
                self._end(call, "completed", by="twiml-error")
                return
            media = self.media_factory(call)
            call.media = call.media_record = media
            ctx = MediaContext(call_sid=call.sid, account_sid=call.account_sid, to=call.to, from_=call.from_,
                               stream=call.stream, talk_time=call.talk_time,
                               schedule=self._scheduler.call_later,
                               hang_up=lambda: self._callee_hangs_up(call),
                               end_call=lambda by: self._callee_hangs_up(call, by))
            media.start(ctx)

    def _callee_hangs_up(self, call: SimCall, by: str = "callee") -> None:
        with self._lock:
            if self._is_live(call, "in-progress"):
                self._end(call, "completed", by=by)

    def _is_live(self, call: SimCall, status: str) -> bool:
        """Whether ``call`` is still ours (not dropped by a reset) and in ``status``."""
        return call.status == status and self._calls.get(call.sid) is call

    def _end(self, call: SimCall, status: str, by: str) -> None:
        """Move a live call to its final status, stop its media and send the ``completed`` callback."""
        now = time.time()
        if call.status == "in-progress":
            self._in_progress -= 1
            call.duration = max(0, round(now - (call.answered_at or now)))
        else:
            call.duration = 0
        call.ended_at = now
        call.ended_by = by
        call.set_status(status, now)
        self._final_counts[status] += 1
        self._stop_media(call)
        self._emit(call, "completed", status, extra={
            "CallDuration": str(call.duration), "SipResponseCode": str(SIP_RESPONSE_CODES[status])})

    def _stop_media(self, call: SimCall) -> None:
        media, call.media = call.media, None
        if media is not None:
            try:
                media.stop()
            except Exception:  # noqa: BLE001
                log.exception("media session stop failed for %s", call.sid)

    # -- network work -------------------------------------------------------------------------

    def _pool_submit(self, task: Callable[[], None]) -> None:
        try:
            self._pool.submit(task)
        except RuntimeError:  # stopping
            pass

    def _session(self) -> requests.Session:
        """A keep-alive HTTP session for the current pool thread."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Webhooks go straight to their URL: no proxy or .netrc from the environment (reading
            # them costs more than the request itself when thousands of callbacks are in flight).
            session.trust_env = False
            session.headers["User-Agent"] = TWILIO_USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _emit(self, call: SimCall, event: str, call_status: str, extra: Mapping[str, str] | None = None) -> None:
        """Queue the status callback for ``event`` if the call asked for it (called under the lock)."""
        if not call.status_callback or event not in call.events:
            return
        now = time.time()
        params = call.voice_params(call_status)
        params.update({"CallbackSource": CALLBACK_SOURCE, "SequenceNumber": str(call.sequence),
                       "Timestamp": _rfc2822(now) or ""})
        params.update(extra or {})
        record = CallbackRecord(event=event, call_status=call_status, sequence=call.sequence,
                                url=call.status_callback, method=call.status_callback_method, queued_at=now)
        call.sequence += 1
        call.callbacks.append(record)
        self._lanes.submit(call.lane, lambda: self._deliver(call, record, params))

    def _signed_request(self, token: str, method: str, url: str, params: dict[str, str],
                        idempotency_token: str) -> requests.Response:
        """Send a webhook as Twilio does: form POST (or GET with a query string), signed."""
        headers = {"I-Twilio-Idempotency-Token": idempotency_token}
        if method == "GET":
            target = url + ("&" if urlsplit(url).query else "?") + urlencode(params)
            headers[SIGNATURE_HEADER] = compute_signature(token, target, {})
            body = None
        else:
            target, body = url, urlencode(params)
            headers[SIGNATURE_HEADER] = compute_signature(token, url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self._session().request(method, target, data=body, headers=headers,
                                       timeout=self.callback_timeout, allow_redirects=False)

    def _deliver(self, call: SimCall, record: CallbackRecord, params: dict[str, str]) -> None:
        """Send one status callback, retrying connection failures, and record the outcome.

        A connection that cannot be opened (refused, reset, connect timeout) is retried
        ``callback_retries`` times with a short pause, in the spirit of Twilio's webhook connection
        overrides (``#rc``/``#rp``, which by default retry only failed connections). Read timeouts
        and HTTP error statuses are recorded and not retried.
        """
        idempotency_token = uuid.uuid4().hex
        attempts = 1 + self.callback_retries
        for attempt in range(1, attempts + 1):
            status, error, retry = None, None, False
            try:
                response = self._signed_request(call.auth_token, record.method, record.url, params, idempotency_token)
                status = response.status_code
            except requests.ConnectionError as exc:
                error, retry = f"connection error: {exc}", True
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            retry = retry and attempt < attempts
            with self._lock:
                record.attempts = attempt
                record.sent_at = time.time()
                record.http_status, record.error = status, error
                if not retry:
                    record.finished_at = record.sent_at
            if not retry:
                return
            time.sleep(0.1 * attempt)

    def _fetch_twiml(self, call: SimCall) -> None:
        """Request the call's TwiML from its ``Url`` (signed, as Twilio does), then run it."""
        assert call.url is not None
        fetch: dict[str, Any] = {"url": call.url, "method": call.method, "http_status": None, "error": None}
        twiml = ""
        try:
            response = self._signed_request(call.auth_token, call.method, call.url,
                                            call.voice_params("in-progress"), uuid.uuid4().hex)
            fetch["http_status"] = response.status_code
            if 200 <= response.status_code < 300:
                twiml = response.text
            else:
                fetch["error"] = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            fetch["error"] = f"{type(exc).__name__}: {exc}"
        with self._lock:
            call.twiml_fetch = fetch
            if fetch["error"]:
                call.twiml_error = f"could not fetch TwiML (Twilio error 11200): {fetch['error']}"
                if self._is_live(call, "in-progress"):
                    self._end(call, "completed", by="twiml-error")
                return
        self._run_twiml(call, twiml)


# --------------------------------------------------------------------------------------------
# HTTP front end
# --------------------------------------------------------------------------------------------

class _SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # thousands of calls may be placed at once

    def __init__(self, address: tuple[str, int], sim: CarrierSimulator) -> None:
        self.sim = sim
        super().__init__(address, _SimHandler)


class _SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY a keep-alive client waits for
    # the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: _SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- plumbing -----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_twilio_error(self, error: TwilioError) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.status == 401 else None
        self._send_json(error.status, error.body(), headers)

    def _form(self) -> dict[str, list[str]]:
        return parse_qs(self._body().decode("utf-8", "replace"), keep_blank_values=True)

    def _route(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith("/sim/") or path == "/sim":
                self._sim(path)
            else:
                self._api(path)
        except TwilioError as error:
            self._send_twilio_error(error)
        except RulesError as error:
            self._send_json(400, {"error": str(error)})
        except Exception:  # noqa: BLE001
            log.exception("carrier simulator request failed")
            self._send_json(500, {"code": 20500, "message": "Internal Server Error",
                                  "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500})

    do_GET = do_POST = do_PUT = do_DELETE = _route

    # -- Twilio REST API ----------------------------------------------------------------------

    def _api(self, path: str) -> None:
        sim = self.server.sim
        if match := _CALLS_PATH.match(path):
            account = match["account"]
            token = sim.authenticate(account, self.headers.get("Authorization"))
            if self.command != "POST":
                raise TwilioError(405, 20004, "Method not allowed")
            self._send_json(201, sim.create_call(account, token, self._form()))
        elif match := _CALL_PATH.match(path):
            account, sid = match["account"], match["sid"]
            sim.authenticate(account, self.headers.get("Authorization"))
            if self.command == "GET":
                self._send_json(200, sim.fetch_call(account, sid, path))
            elif self.command == "POST":
                self._send_json(200, sim.update_call(account, sid, path, self._form()))
            else:
                raise TwilioError(405, 20004, "Method not allowed")
        else:
            self._body()
            raise _not_found(path)

    # -- /sim/ inspection and control ---------------------------------------------------------

    def _sim(self, path: str) -> None:
        sim, method = self.server.sim, self.command
        if path == "/sim/calls" and method == "GET":
            self._send_json(200, {"calls": sim.calls()})
        elif (match := _SIM_CALL_PATH.match(path)) and method == "GET":
            found = sim.call(match["sid"])
            self._send_json(200 if found else 404, found or {"error": "no such call"})
        elif path == "/sim/rules" and method == "GET":
            self._send_json(200, sim.rules.to_json())
        elif path == "/sim/rules" and method == "PUT":
            try:
                data = json.loads(self._body() or b"null")
            except json.JSONDecodeError as exc:
                raise RulesError(f"body is not JSON: {exc}") from exc
            sim.set_rules(SimRules.from_json(data))
            self._send_json(200, sim.rules.to_json())
        elif path == "/sim/stats" and method == "GET":
            self._send_json(200, sim.stats())
        elif path == "/sim/reset" and method == "POST":
            self._body()
            sim.reset()
            self._send_json(200, {"reset": True})
        else:
            self._body()
            self._send_json(404, {"error": f"no route {method} {path}"})


# --------------------------------------------------------------------------------------------
# python -m devstack.carrier_sim
# --------------------------------------------------------------------------------------------

def _talk_time_arg(value: str) -> float | tuple[float, float]:
    """``1.5`` or ``1,3`` (a range) from the command line."""
    if "," in value:
        low, high = value.split(",", 1)
        return float(low), float(high)
    return float(value)


def _account_arg(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError("use ACCOUNT_SID:AUTH_TOKEN")
    return sid, token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.carrier_sim",
                                     description="Run the Twilio-compatible carrier simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answer-delay", type=float, default=0.5)
    parser.add_argument("--talk-time", type=_talk_time_arg, default=1.0, help="seconds, or MIN,MAX")
    parser.add_argument("--busy", type=float, default=0.0, help="probability a call is busy")
    parser.add_argument("--no-answer", type=float, default=0.0, help="probability a call is not answered")
    parser.add_argument("--failed", type=float, default=0.0, help="probability a call fails")
    parser.add_argument("--no-number-rules", action="store_true",
                        help="turn off the To-ends-in-0/9/8 busy/no-answer/failed rules")
    parser.add_argument("--account", type=_account_arg, action="append", default=None,
                        metavar="SID:TOKEN", help="accept only these credentials (repeatable)")
    parser.add_argument("--voice", action="store_true",
                        help="answer <Connect><Stream> calls with a scripted caller speaking on the Media Stream "
                             "(Piper voice; scripts set with PUT /sim/rules)")
    parser.add_argument("--voice-engine", choices=("piper", "tone"), default="piper",
                        help="how the scripted caller's sentences are synthesized (tone: a speech-like buzz)")
    parser.add_argument("--recordings-dir", default=None,
                        help="with --voice: save each call's audio (<CallSid>.wav, <CallSid>-stereo.wav) here")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        rules = SimRules(outcomes=OutcomeProbabilities(args.busy, args.no_answer, args.failed),
                         answer_delay=args.answer_delay, talk_time=args.talk_time,
                         number_rules=not args.no_number_rules, seed=args.seed)
        media_factory: MediaFactory = no_media
        if args.voice:
            from devstack.caller_voice import scripted_media_factory

            media_factory = scripted_media_factory(args.recordings_dir, engine=args.voice_engine)
        sim = CarrierSimulator(rules, host=args.host, port=args.port,
                               accounts=dict(args.account) if args.account else None, media_factory=media_factory)
    except RulesError as exc:
        print(f"invalid rules: {exc}")
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(json.dumps({"carrier_sim": sim.url, "voice": bool(args.voice), "rules": sim.rules.to_json()}), flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
