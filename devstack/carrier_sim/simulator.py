"""The Twilio stand-in's core: a call's life from ``POST Calls.json`` to its final status callback.

How a call lives (Twilio's outbound-api call progress): ``queued`` (the API answer) -> ``initiated``
(dialling starts, at once) -> ``ringing`` (at once, unless the outcome is ``busy`` or ``failed``,
which never ring) -> after ``answer_delay`` seconds either a final ``busy`` / ``no-answer`` /
``failed``, or ``in-progress`` (answered). An answered call's TwiML (inline ``Twiml``, or fetched
from ``Url`` with a signed request as Twilio does) is parsed for ``<Connect><Stream>`` and handed to
a :class:`~devstack.carrier_sim.media.MediaSession`. A ``Timeout`` (ring time) shorter than
``answer_delay`` turns an answer into ``no-answer``, as a real ring timeout would.

Status callbacks follow Twilio's ``StatusCallbackEvent`` semantics: ``initiated`` (reported with
``CallStatus=initiated``; Twilio's call resource never shows that status, so the API keeps saying
``queued`` until it rings), ``ringing``, ``answered`` (``CallStatus=in-progress``) and
``completed`` (``CallStatus`` = the final status, whichever it is: completed, busy, no-answer,
failed or canceled). With a ``StatusCallback`` and no ``StatusCallbackEvent``, only ``completed``
is sent, as Twilio does.

Answering machine detection (Twilio's async AMD: ``MachineDetection`` with ``AsyncAmd=true``; the
simulator refuses synchronous AMD with a 400): who answers follows the rules (To numbers ending in 7
reach an answering machine, :mod:`devstack.carrier_sim.answering_machine`). One result per call,
POSTed to ``AsyncAmdStatusCallback`` signed like the status callbacks, with ``CallSid``,
``AccountSid``, ``AnsweredBy`` and ``MachineDetectionDuration`` (ms since the answer), and shown as
the call resource's ``answered_by``: a human is ``human`` 1.5 s after the answer (either mode); a
machine is ``machine_start`` 1.5 s after the answer with ``Enable``, and ``machine_end_beep`` as
soon as its beep has been played into the stream with ``DetectMessageEnd`` (estimated at 4.5 s when
the call's media does not play the machine). No result by ``MachineDetectionTimeout``: ``unknown``.
A call that ends first gets no result. Calls without ``MachineDetection`` get none either.

A ``sip:`` ``To`` (with ``SipAuthUsername``/``SipAuthPassword``) reaches the trunk registered for its host
(``sip_trunks``, ``PUT /sim/sip-trunks``): wrong or missing credentials end the call ``failed`` with
``SipResponseCode`` 403 or 401; see :mod:`devstack.carrier_sim.sip`.

Nothing blocks per call: one scheduler thread drives every call's life, and
:class:`~devstack.carrier_sim.callbacks.Webhooks` does the network work on a small pool, so
thousands of simulated calls can be live at once.
"""
from __future__ import annotations

import functools
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any, Self

from devstack.carrier_sim.callbacks import Webhooks
from devstack.carrier_sim.calls import (
    CALLBACK_SOURCE,
    E164,
    MAX_TIMEOUT,
    CallbackRecord,
    MediaFactory,
    SimCall,
    rfc2822,
)
from devstack.carrier_sim.media import MediaContext, no_media
from devstack.carrier_sim.numbers import NumberRegistry
from devstack.carrier_sim.rest import TwilioError, basic_auth_token, first, not_found, parse_call_request
from devstack.carrier_sim.rules import SimRules
from devstack.carrier_sim.scheduling import Scheduler
from devstack.carrier_sim.scripts import ScriptError, parse_script
from devstack.carrier_sim.server import SimHTTPServer
from devstack.carrier_sim.sip import SipAuth, SipTrunks
from devstack.carrier_sim.twiml import TwimlError, parse_stream_hook

log = logging.getLogger("parley.carrier_sim")

HUMAN_DETECTION_S = 1.5  # AMD hears a short greeting, then silence: a human
MACHINE_START_S = 1.5  # AMD (Enable) hears a long greeting begin: a machine
ESTIMATED_BEEP_END_S = 4.5  # when the call's media does not play the machine (no voice, no stream)


class CarrierSimulator:
    """The simulated carrier: an HTTP server speaking Twilio's Calls API plus the call scheduler.

    ``accounts`` optionally maps AccountSid to AuthToken; when given, only those credentials are
    accepted. Without it any ``AccountSid:AuthToken`` pair is accepted (the token then signs that
    call's callbacks), which suits tests and the local stack. ``media_factory`` builds the
    :class:`~devstack.carrier_sim.media.MediaSession` for each answered call.
    """

    def __init__(self, rules: SimRules | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 accounts: Mapping[str, str] | None = None, media_factory: MediaFactory = no_media,
                 delivery_workers: int = 16, callback_timeout: float = 10.0, callback_retries: int = 2,
                 sip_trunks: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.rules = rules or SimRules()
        self.sip_trunks = SipTrunks({host: SipAuth(*auth) for host, auth in (sip_trunks or {}).items()})
        self.rules.validate()
        self.accounts = dict(accounts) if accounts is not None else None
        self.media_factory = media_factory
        self._lock = threading.RLock()
        self._rng = random.Random(self.rules.seed)
        self._calls: dict[str, SimCall] = {}
        self._numbers = NumberRegistry()
        self._final_counts: Counter[str] = Counter()
        self._in_progress = 0
        self._max_in_progress = 0
        self._scheduler = Scheduler()
        self._webhooks = Webhooks(self._lock, workers=delivery_workers, timeout=callback_timeout,
                                  retries=callback_retries)
        self._server = SimHTTPServer((host, port), self)
        self._server_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the simulator, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.socket.getsockname()[:2]
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
        self._webhooks.close()

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
            self._numbers.clear()
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
        return basic_auth_token(path_account, authorization, self.accounts)

    def create_call(self, account_sid: str, auth_token: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """Accept a new call (status ``queued``) and schedule its life; returns the resource."""
        request = parse_call_request(form)
        dialled = request.sip.user if request.sip else request.to  # the rules see a SIP URI's user part
        with self._lock:
            refused = self.sip_trunks.refusal(request.sip, request.sip_auth) if request.sip else None
            call = SimCall(
                sid="CA" + uuid.uuid4().hex, account_sid=account_sid, auth_token=auth_token,
                to=request.to, from_=request.from_, twiml=request.twiml, url=request.url,
                method=request.method, status_callback=request.status_callback,
                status_callback_method=request.status_callback_method, events=request.events,
                timeout=request.timeout,
                outcome="failed" if refused else self.rules.outcome_for(dialled, request.from_, self._rng),
                talk_time=self.rules.draw_talk_time(self._rng), script=self.rules.script_for(dialled),
                final_callback_delay=float(self.rules.final_callback_delay),
                answerer=self.rules.answerer_for(dialled), machine=self.rules.machine, amd=request.amd,
                sip_username=request.sip_auth.username if request.sip_auth else None, sip_response_code=refused,
            )
            self._calls[call.sid] = call
            answer_delay = float(self.rules.answer_delay)
            self._scheduler.call_later(0, lambda: self._dial(call, answer_delay))
            return call.resource()

    def list_numbers(self, account_sid: str, auth_token: str, phone_number: str | None) -> dict[str, Any]:
        """``GET IncomingPhoneNumbers.json``, optionally filtered by ``PhoneNumber``."""
        with self._lock:
            return self._numbers.listing(account_sid, auth_token, phone_number)

    def update_number(self, account_sid: str, auth_token: str, sid: str, path: str,
                      form: Mapping[str, list[str]]) -> dict[str, Any]:
        """``POST IncomingPhoneNumbers/{Sid}.json``: set its voice webhook and status callback."""
        with self._lock:
            return self._numbers.update(account_sid, auth_token, sid, path, form)

    def place_inbound(self, body: Any) -> dict[str, Any]:
        """``POST /sim/inbound`` ``{"to", "from", "script"?}``: a caller rings one of the accounts' numbers.

        The call is ``inbound``: it rings for the rules' ``answer_delay`` and is answered; its TwiML comes from the
        number's ``VoiceUrl`` (signed with the token that configured it) and its end goes to the number's
        ``StatusCallback`` (the ``completed`` event, as Twilio sends a number's status callback). ``script`` is
        what the caller says on the media stream (default: the rules' script for the caller's number).
        """
        if not isinstance(body, dict):
            raise TwilioError(400, 20001, "body must be a JSON object with to, from and optionally script")
        to, from_, script = body.get("to"), body.get("from"), body.get("script")
        for name, value in (("to", to), ("from", from_)):
            if not isinstance(value, str) or not E164.match(value):
                raise TwilioError(400, 21211 if name == "to" else 21212, f"Invalid '{name}' number: {value!r}")
        assert isinstance(to, str) and isinstance(from_, str)
        if script is not None:
            try:
                parse_script(script)
            except ScriptError as error:
                raise TwilioError(400, 20001, f"Invalid script: {error}") from error
        with self._lock:
            number = self._numbers.by_number(to)
            if number is None or number.voice_url is None:
                raise TwilioError(404, 21404, f"{to} is not a number with a voice webhook on this carrier")
            call = SimCall(
                sid="CA" + uuid.uuid4().hex, account_sid=number.account_sid, auth_token=number.auth_token,
                to=to, from_=from_, url=number.voice_url, method=number.voice_method,
                status_callback=number.status_callback, status_callback_method=number.status_callback_method,
                events=frozenset({"completed"}), timeout=MAX_TIMEOUT, outcome="answered",
                talk_time=self.rules.draw_talk_time(self._rng),
                script=script if script is not None else self.rules.script_for(from_),
                final_callback_delay=float(self.rules.final_callback_delay), direction="inbound")
            self._calls[call.sid] = call
            answer_delay = float(self.rules.answer_delay)
            self._scheduler.call_later(0, lambda: self._dial(call, answer_delay))
            return call.resource()

    def fetch_call(self, account_sid: str, sid: str, path: str) -> dict[str, Any]:
        with self._lock:
            return self._owned_call(account_sid, sid, path).resource()

    def update_call(self, account_sid: str, sid: str, path: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """``Status=completed`` hangs up (any live call); ``Status=canceled`` cancels one not yet answered."""
        status = first(form, "Status")
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
            raise not_found(path)
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
        self._start_amd(call)
        if call.url:
            self._webhooks.submit(lambda: self._fetch_twiml(call))
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
                               end_call=lambda by: self._callee_hangs_up(call, by),
                               stream_outlives_call=self._has_stream(call) and call.final_callback_delay < 0,
                               answerer=call.answerer, machine=call.machine,
                               message_prompt=lambda: self._machine_prompt(call))
            if call.answerer == "machine" and not getattr(media, "plays_answering_machine", False) \
                    and call.answered_at is not None:
                delay = call.answered_at + ESTIMATED_BEEP_END_S - time.time()
                self._scheduler.call_later(delay, lambda: self._machine_prompt(call))
            media.start(ctx)

    # -- answering machine detection ------------------------------------------------------------

    def _start_amd(self, call: SimCall) -> None:
        """The call was answered: schedule its AMD result (under the lock)."""
        amd = call.amd
        if amd is None:
            return
        self._scheduler.call_later(amd.timeout, lambda: self._amd_result(call, "unknown"))
        if call.answerer == "human":
            self._scheduler.call_later(HUMAN_DETECTION_S, lambda: self._amd_result(call, "human"))
        elif amd.machine_detection == "Enable":
            self._scheduler.call_later(MACHINE_START_S, lambda: self._amd_result(call, "machine_start"))

    def _machine_prompt(self, call: SimCall) -> None:
        """The machine's greeting and beep have been played: DetectMessageEnd reports it now."""
        if call.amd is not None and call.amd.machine_detection == "DetectMessageEnd":
            self._amd_result(call, "machine_end_beep")

    def _amd_result(self, call: SimCall, answered_by: str) -> None:
        """Record the call's AMD result (the first one only) and POST it to AsyncAmdStatusCallback."""
        with self._lock:
            if call.amd is None or call.answered_by is not None or not self._is_live(call, "in-progress"):
                return
            now = time.time()
            call.answered_by = answered_by
            amd = call.amd
            if not amd.status_callback:
                return
            params = {"CallSid": call.sid, "AccountSid": call.account_sid, "AnsweredBy": answered_by,
                      "MachineDetectionDuration": str(round(1000 * (now - (call.answered_at or now))))}
            record = CallbackRecord(event="amd", call_status=call.status, sequence=len(call.amd_callbacks),
                                    url=amd.status_callback, method=amd.status_callback_method, queued_at=now,
                                    answered_by=answered_by)
            call.amd_callbacks.append(record)
            self._webhooks.send_callback(call.amd_lane, call.auth_token, record, params)

    def _callee_hangs_up(self, call: SimCall, by: str = "callee") -> None:
        with self._lock:
            if self._is_live(call, "in-progress"):
                self._end(call, "completed", by=by)

    def _is_live(self, call: SimCall, status: str) -> bool:
        """Whether ``call`` is still ours (not dropped by a reset) and in ``status``."""
        return call.status == status and self._calls.get(call.sid) is call

    def _end(self, call: SimCall, status: str, by: str) -> None:
        """Move a live call to its final status, stop its media and send the ``completed`` callback.

        For a call with a ``<Connect><Stream>``, the rules' ``final_callback_delay`` (captured when
        the call was created) orders the two: > 0, the stream stops now and the callback goes that
        long after; < 0, the callback goes now and the stream stops that long after.
        """
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
        delay = call.final_callback_delay if self._has_stream(call) else 0.0
        if delay < 0:
            self._scheduler.call_later(-delay, lambda: self._stop_media_later(call))
        else:
            self._stop_media(call)
        self._emit(call, "completed", status, extra={
            "CallDuration": str(call.duration), "SipResponseCode": str(call.final_sip_code())},
            delay=max(0.0, delay))

    @staticmethod
    def _has_stream(call: SimCall) -> bool:
        """Whether the call's TwiML connected it to a bidirectional Media Stream."""
        return call.stream is not None and call.stream.verb == "Connect"

    def _stop_media_later(self, call: SimCall) -> None:
        with self._lock:
            self._stop_media(call)

    def _stop_media(self, call: SimCall) -> None:
        media, call.media = call.media, None
        if media is not None:
            try:
                media.stop()
            except Exception:
                log.exception("media session stop failed for %s", call.sid)

    # -- webhooks -----------------------------------------------------------------------------

    def _emit(self, call: SimCall, event: str, call_status: str, extra: Mapping[str, str] | None = None,
              delay: float = 0.0) -> None:
        """Queue the status callback for ``event`` if the call asked for it (called under the lock);
        ``delay``: send it that many seconds from now (it is recorded, pending, at once)."""
        if not call.status_callback or event not in call.events:
            return
        now = time.time()
        params = call.voice_params(call_status)
        params.update({"CallbackSource": CALLBACK_SOURCE, "SequenceNumber": str(call.sequence),
                       "Timestamp": rfc2822(now) or ""})
        params.update(extra or {})
        record = CallbackRecord(event=event, call_status=call_status, sequence=call.sequence,
                                url=call.status_callback, method=call.status_callback_method, queued_at=now)
        call.sequence += 1
        call.callbacks.append(record)
        send = functools.partial(self._webhooks.send_callback, call.lane, call.auth_token, record, params)
        if delay > 0:
            self._scheduler.call_later(delay, send)
        else:
            send()

    def _fetch_twiml(self, call: SimCall) -> None:
        """Request the call's TwiML from its ``Url`` (signed, as Twilio does), then run it."""
        assert call.url is not None
        fetch, twiml = self._webhooks.fetch_twiml(call.auth_token, call.method, call.url,
                                                  call.voice_params("in-progress"))
        with self._lock:
            call.twiml_fetch = fetch
            if fetch["error"]:
                call.twiml_error = f"could not fetch TwiML (Twilio error 11200): {fetch['error']}"
                if self._is_live(call, "in-progress"):
                    self._end(call, "completed", by="twiml-error")
                return
        self._run_twiml(call, twiml)
