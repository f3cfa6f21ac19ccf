"""One Twilio media stream, from ``start`` to the call's finalization.

``start`` must come first with a supported codec and the call's signed ``call_id``/``token``
parameters; otherwise the stream is closed (1003 for a codec we cannot take, 1008 for a refused
admission, a second stream for a live call, or a hostile message) and nothing is written. Once admitted,
the call is finalized exactly once however the stream ends: ``stop`` from the carrier, the agent hanging
up, a dropped socket, a shutdown, or the stream closed by policy (1008): no media for ``idle_timeout_s``,
caller audio faster than ``max_audio_rate`` times real time, or a hostile message. Keypad digits beyond
:class:`~streaming.transports.limits.DtmfLimit` are dropped.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from chalicelib.domain import call_media
from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.domain.call_media import Admission, MediaResult, Rejected
from streaming import engine_choice, post_call_analysis
from streaming.engines.base import LlmOptions
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.keypad import DTMF_SETTLE_S
from streaming.pipeline.output import FrameClock, PacingStats
from streaming.pipeline.session import VoiceSession
from streaming.settings import StreamingSettings
from streaming.transports import twilio
from streaming.transports.limits import AudioRateLimit, DtmfLimit

log = logging.getLogger("parley.streaming.call")
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001


@dataclass
class Lifecycle:
    """The call record's side of a stream (blocking functions, run in worker threads). Tests may swap them."""

    admit: Callable[[str, str, str, str], Admission] = call_media.admit
    started: Callable[[Admission], None] = call_media.started
    finalize: Callable[[Admission, MediaResult], bool] = call_media.finalize
    # After finalizing: which variables to extract, then record the analysis and announce call.completed.
    # None (tests of the stream alone): no analysis, nothing announced.
    variables: Callable[[Admission], list[dict[str, str]]] | None = None
    complete: Callable[[Admission, dict[str, Any]], bool] | None = None

    @classmethod
    def aws(cls) -> Lifecycle:
        """The real one, with AWS clients made once for the process (blocking: call at start-up)."""
        clients = call_media.AwsClients.create()
        return cls(admit=call_media.admit, started=functools.partial(call_media.started, clients=clients),
                   finalize=functools.partial(call_media.finalize, clients=clients),
                   variables=call_media.variables_to_extract,
                   complete=functools.partial(call_media.complete, clients=clients))


@dataclass
class ServiceState:
    """Everything the streaming service shares between calls (owned by the aiohttp app)."""

    settings: StreamingSettings
    registry: EngineRegistry
    token_secret: str
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    active: dict[int, TwilioCall] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    finalizing: set[asyncio.Task[None]] = field(default_factory=set)
    pacing: PacingStats = field(default_factory=PacingStats)
    clock: FrameClock = field(default_factory=FrameClock)
    draining: bool = False
    streams: int = 0  # open media sockets, admitted or not (``settings.max_streams`` caps them)


class TwilioCall:
    def __init__(self, state: ServiceState, ws: web.WebSocketResponse) -> None:
        self.state = state
        self.ws = ws
        self.admission: Admission | None = None
        self.session: VoiceSession | None = None
        self.ended_by = "stream_dropped"
        self._agent_hung_up = False
        self._shutdown = False
        self._background: set[asyncio.Task[Any]] = set()
        self.engines: engine_choice.EngineChoice | None = None

    async def run(self) -> None:
        counters = self.state.counters
        try:
            start = await self._await_start()
            if start is None:
                return
            problem = start.format_problem()
            if problem is not None:
                counters["rejected_codec"] += 1
                await self._reject(CLOSE_UNSUPPORTED, problem)
                return
            try:
                admission = await asyncio.to_thread(
                    self.state.lifecycle.admit, start.parameters.get("call_id", ""),
                    start.parameters.get("token", ""), start.stream_sid, self.state.token_secret)
            except Rejected as error:
                counters["rejected_admission"] += 1
                await self._reject(CLOSE_POLICY, str(error))
                return
            if self._live_here(admission):  # one live stream per call here (the call record's claim: in any task)
                counters["rejected_duplicate"] += 1
                await self._reject(CLOSE_POLICY, "the call already has a live media stream")
                return
            self.admission = admission
            self.state.active[id(self)] = self
            counters["calls_started"] += 1
            await self._converse(start)
        except Exception:
            counters["errors"] += 1
            log.exception("stream failed")
            self.ended_by = "error"
        finally:
            try:
                await self._end()
            finally:
                self.state.active.pop(id(self), None)

    def _live_here(self, admission: Admission) -> bool:
        return any(call.admission is not None and (call.admission.account_id, call.admission.call_id)
                   == (admission.account_id, admission.call_id) for call in self.state.active.values())

    async def hang_up_for_shutdown(self) -> None:
        self._shutdown = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")

    async def _await_start(self) -> twilio.Start | None:
        deadline = time.monotonic() + self.state.settings.start_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.state.counters["rejected_no_start"] += 1
                await self._reject(CLOSE_POLICY, "no start event")
                return None
            try:
                message = await self.ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if message.type != WSMsgType.TEXT:
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return None
                self.state.counters["malformed"] += 1
                continue
            event = twilio.parse(message.data)
            if isinstance(event, twilio.Start):
                return event
            if isinstance(event, twilio.Malformed) and event.fatal:
                self.state.counters["refused_malformed"] += 1
                await self._reject(CLOSE_POLICY, event.reason)
                return None
            if isinstance(event, twilio.StreamStopped):
                return None
            self.state.counters["before_start" if not isinstance(event, twilio.Connected) else "connected"] += 1

    async def _reject(self, code: int, reason: str) -> None:
        log.warning("stream refused: %s", reason)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode()[:120])

    async def _converse(self, start: twilio.Start) -> None:
        admission = self.admission
        assert admission is not None
        agent = AgentSettings.from_stored(admission.agent_config)
        choice = engine_choice.choose(agent, self.state.registry, self.state.settings)
        engines = await asyncio.to_thread(engine_choice.build, choice, self.state.registry)
        sink = twilio.TwilioSink(self.ws, start.stream_sid)
        self.session = VoiceSession(agent, admission.call_context, engines, sink, hang_up=self._agent_hang_up,
                                    pacing=self.state.pacing, clock=self.state.clock)
        self.engines = choice
        await self.session.start()
        self._spawn(self._announce_started(admission))
        try:
            await asyncio.wait_for(self._pump(self.session), timeout=self.state.settings.max_call_s)
        except TimeoutError:
            self.ended_by = "max_duration"

    async def _announce_started(self, admission: Admission) -> None:
        try:
            await asyncio.to_thread(self.state.lifecycle.started, admission)
            self.state.counters["started_recorded"] += 1
        except Exception:
            log.exception("could not mark the call started")

    async def _pump(self, session: VoiceSession) -> None:
        counters, settings = self.state.counters, self.state.settings
        now = time.monotonic()
        rate = AudioRateLimit(settings.max_audio_rate, settings.audio_rate_window_s, window_start=now)
        keypad = DtmfLimit(settle_s=DTMF_SETTLE_S)
        idle_deadline = now + settings.idle_timeout_s
        while True:
            try:
                message = await self.ws.receive(timeout=max(idle_deadline - time.monotonic(), 0.001))
            except TimeoutError:
                if time.monotonic() >= idle_deadline:
                    await self._close_by_policy("idle", f"no media for {settings.idle_timeout_s:g} s", "closed_idle")
                    return
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            if message.type != WSMsgType.TEXT:
                counters["malformed"] += 1
                continue
            event = twilio.parse(message.data)
            if isinstance(event, twilio.Media):
                if event.track in ("inbound", "inbound_track") and event.payload:
                    now = time.monotonic()
                    idle_deadline = now + settings.idle_timeout_s
                    if rate.exceeded(len(event.payload), now):
                        await self._close_by_policy("audio_too_fast", "audio faster than real time", "refused_too_fast")
                        return
                    await session.on_audio(event.payload, now)
            elif isinstance(event, twilio.Mark):
                session.on_mark(event.name)
            elif isinstance(event, twilio.Dtmf):
                if keypad.admit(event.digit, time.monotonic()):
                    await session.on_dtmf(event.digit)
                else:
                    counters["dtmf_dropped"] += 1
            elif isinstance(event, twilio.StreamStopped):
                self.ended_by = "caller"
                return
            elif isinstance(event, twilio.Malformed):
                if event.fatal:
                    await self._close_by_policy("protocol_error", event.reason, "refused_malformed")
                    return
                counters["malformed"] += 1
            elif isinstance(event, twilio.Unknown):
                counters["unknown_events"] += 1
        if self._agent_hung_up:
            self.ended_by = "agent"
        elif self._shutdown:
            self.ended_by = "shutdown"

    async def _close_by_policy(self, ended_by: str, reason: str, counter: str) -> None:
        """End an admitted stream that broke a rule (1008 with ``reason``); the call is then finalized."""
        self.ended_by = ended_by
        self.state.counters[counter] += 1
        await self._reject(CLOSE_POLICY, reason)

    async def _agent_hang_up(self) -> None:
        self._agent_hung_up = True
        await self.ws.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _end(self) -> None:
        """Close the conversation and finalize the call once (shielded from cancellation)."""
        session, admission = self.session, self.admission
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if admission is None:
            return
        task = asyncio.ensure_future(self._finalize(admission, session))
        self.state.finalizing.add(task)
        task.add_done_callback(self.state.finalizing.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def _finalize(self, admission: Admission, session: VoiceSession | None) -> None:
        result = self._result(session)
        try:
            first = await asyncio.to_thread(self.state.lifecycle.finalize, admission, result)
            self.state.counters["finalized" if first else "finalize_duplicates"] += 1
        except Exception:
            self.state.counters["finalize_errors"] += 1
            log.exception("finalizing the call failed")
            return
        finally:
            if session is not None:
                session.recorder.close()  # the recording was read (uploaded) by finalize
        if first:
            await self._complete(admission, result)

    async def _complete(self, admission: Admission, result: MediaResult) -> None:
        """Analyse the conversation (summary, sentiment, variables) and announce ``call.completed``."""
        lifecycle = self.state.lifecycle
        if lifecycle.complete is None:
            return
        try:
            variables = await asyncio.to_thread(lifecycle.variables, admission) if lifecycle.variables else []
            model = self.engines.llm_model if self.engines is not None else None
            analysis = await post_call_analysis.analyze(result.transcript, variables, self._analysis_llm(),
                                                        options=LlmOptions(temperature=0.0, model=model),
                                                        timeout_s=self.state.settings.analysis_timeout_s)
            self.state.counters["analysis_errors"] += bool(analysis.errors)
            await asyncio.to_thread(lifecycle.complete, admission, analysis.to_json())
            self.state.counters["completed_events"] += 1
        except Exception:
            self.state.counters["complete_errors"] += 1
            log.exception("announcing the completed call failed")

    def _analysis_llm(self) -> Any:
        name = self.engines.llm if self.engines is not None else self.state.settings.llm_default
        try:
            return self.state.registry.analysis_llm(name)
        except Exception:
            log.exception("no LLM engine for the post-call analysis")
            return None

    def _result(self, session: VoiceSession | None) -> MediaResult:
        if session is None:
            return MediaResult(ended_by=self.ended_by, transcript=[], turn_metrics=[], wav=b"", duration_s=0.0,
                               conversation={"errors": ["the conversation never started"]})
        output = session.output
        conversation = {
            "barge_ins": [b.latency_ms for b in session.barge_ins],
            "errors": session.errors,
            "engines": self.engines.to_json() if self.engines is not None else {},
            "frames_out": output.frames_sent, "late_frames": output.late_frames, "clears": output.clears,
        }
        return MediaResult(ended_by=self.ended_by, transcript=session.conversation.to_json(),
                           turn_metrics=[m.to_json() for m in session.metrics], wav=session.recorder.wav_stream(),
                           duration_s=session.recorder.duration_s, conversation=conversation)
