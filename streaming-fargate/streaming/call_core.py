"""The call core: one admitted call's life, whatever wire its media travels on.

A transport (``transports.twilio_stream`` for Twilio Media Streams, ``transports.webrtc`` for browsers,
``transports.whatsapp`` for WhatsApp calls)
authenticates and admits its stream, then hands the call to :class:`LiveCall` with its media loop. The
core owns everything else: the engines and the :class:`~streaming.pipeline.session.VoiceSession`
(turn taking, replies, barge-in, recording, per-turn metrics, live events), the call's registration in
the process, the maximum duration, and the end: the session closed, the call finalized exactly once
(shielded from cancellation), then the post-call analysis and ``call.completed``.

The core's audio format is 16-bit mono PCM at the transport's ``media_rate``, both ways; the transport
converts its codec, paces output (or lets the shared frame clock do it), stops playback on ``clear`` and
echoes marks when the caller has heard them.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain import call_media
from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.domain.call_media import Admission, MediaResult
from streaming import carrier_hooks, engine_choice, post_call_analysis
from streaming.engines.base import LlmOptions
from streaming.engines.registry import EngineRegistry
from streaming.monitoring.call_feed import CallFeed
from streaming.monitoring.hub import MonitorHub
from streaming.pipeline.live_events import Listener
from streaming.pipeline.output import FrameClock, OutputSink, PacingStats
from streaming.pipeline.session import VoiceSession
from streaming.settings import StreamingSettings

log = logging.getLogger("parley.streaming.call")


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
    # Live monitoring (None: not recorded): which task holds the call, and the transcript so far.
    held: Callable[[Admission, str], None] | None = None
    record_live: Callable[[Admission, dict[str, Any]], None] | None = None
    # WhatsApp (docs/whatsapp-calls.md section 5). ``hold(account_id, call_id, task_id)``: a call not admitted yet
    # (an offer waiting for the user's answer) is held by this task, so its controls reach it. ``hang_up_carrier``:
    # ask WhatsApp to end a call this side ended. None: not recorded / nobody asked.
    hold: Callable[[int, int, str], None] | None = None
    hang_up_carrier: Callable[[Admission], None] | None = None

    @classmethod
    def aws(cls) -> Lifecycle:
        """The real one, with AWS clients made once for the process (blocking: call at start-up)."""
        clients = call_media.AwsClients.create()
        return cls(admit=call_media.admit, started=functools.partial(call_media.started, clients=clients),
                   finalize=functools.partial(call_media.finalize, clients=clients),
                   variables=call_media.variables_to_extract,
                   complete=functools.partial(call_media.complete, clients=clients),
                   held=call_media.held, record_live=call_media.record_live,
                   hold=call_media.hold, hang_up_carrier=carrier_hooks.hang_up_whatsapp)


@dataclass
class ServiceState:
    """Everything the streaming service shares between calls (owned by the aiohttp app)."""

    settings: StreamingSettings
    registry: EngineRegistry
    token_secret: str
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    active: dict[int, LiveCall] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    finalizing: set[asyncio.Task[None]] = field(default_factory=set)
    pacing: PacingStats = field(default_factory=PacingStats)
    clock: FrameClock = field(default_factory=FrameClock)
    draining: bool = False
    streams: int = 0  # open media connections, admitted or not (``settings.max_streams`` caps them)
    web_calls: int = 0  # of which WebRTC peers (``settings.max_web_calls`` caps them)
    whatsapp_calls: int = 0  # of which WhatsApp calls (ringing ones included)
    # WhatsApp offers waiting for the user's answer, by (account_id, call_id): calling one drops its offer.
    ringing: dict[tuple[int, int], Callable[[], None]] = field(default_factory=dict)
    background: set[asyncio.Task[Any]] = field(default_factory=set)  # calls run outside a request (WebRTC)
    monitor: MonitorHub | None = None  # live monitoring (None: not configured)


class Transport(Protocol):
    """What the core needs of a way in."""

    channel: str  # "phone" | "web" | "whatsapp"
    media_rate: int  # PCM16 sample rate of the audio it gives and takes

    def sink(self) -> OutputSink:
        """Where the agent's audio frames go (created once the call is admitted)."""
        ...

    def live_events(self) -> Listener | None:
        """A listener for the call's live events (captions, state), or None when the wire has no place for them."""
        ...

    async def hang_up(self) -> None:
        """The agent ends the call: stop the media (the media loop then returns)."""
        ...

    async def shut_down(self) -> None:
        """The service is stopping: end the media at once."""
        ...

    async def close(self) -> None:
        """The call is over: release the connection (idempotent)."""
        ...


MediaLoop = Callable[[VoiceSession], Awaitable[str | None]]
"""A transport's receive loop: feeds the session until the media ends; returns why (None: the connection
dropped, or the agent or a shutdown closed it)."""


class LiveCall:
    def __init__(self, state: ServiceState, admission: Admission, transport: Transport) -> None:
        self.state = state
        self.admission = admission
        self.transport = transport
        self.session: VoiceSession | None = None
        self.engines: engine_choice.EngineChoice | None = None
        self.ended_by = "stream_dropped"
        self.feed: CallFeed | None = None
        self.controls: list[dict[str, Any]] = []  # supervisor controls applied, for the conversation log
        self._supervisor_ended = False
        self._voicemail = False
        self._agent_hung_up = False
        self._shutdown = False
        self._carrier_ended = False  # the carrier said the caller hung up (``caller_hung_up``)
        self._background: set[asyncio.Task[Any]] = set()

    @staticmethod
    def live_here(state: ServiceState, admission: Admission) -> bool:
        """The call already has a live stream in this process (one stream per call)."""
        key = (admission.account_id, admission.call_id)
        return any((call.admission.account_id, call.admission.call_id) == key for call in state.active.values())

    async def run(self, media: MediaLoop) -> None:
        """Converse until the media ends, then finalize the call once."""
        self.state.active[id(self)] = self
        self.state.counters["calls_started"] += 1
        try:
            await self._converse(media)
        except Exception:
            self.state.counters["errors"] += 1
            log.exception("call failed")
            self.ended_by = "error"
        finally:
            try:
                await self._end()
            finally:
                self.state.active.pop(id(self), None)

    async def hang_up_for_shutdown(self) -> None:
        self._shutdown = True
        with contextlib.suppress(Exception):
            await self.transport.shut_down()

    async def _converse(self, media: MediaLoop) -> None:
        admission = self.admission
        agent = AgentSettings.from_stored(admission.agent_config)
        choice = engine_choice.choose(agent, self.state.registry, self.state.settings)
        engines = await asyncio.to_thread(engine_choice.build, choice, self.state.registry)
        self.session = VoiceSession(agent, admission.call_context, engines, self.transport.sink(),
                                    hang_up=self._agent_hang_up, pacing=self.state.pacing, clock=self.state.clock,
                                    media_rate=self.transport.media_rate, account_id=admission.account_id)
        listener = self.transport.live_events()
        if listener is not None:
            self.session.events.subscribe(listener)
        self.engines = choice
        self._watch(self.session)
        await self.session.start()
        self._spawn(self._announce_started(admission))
        try:
            reason = await asyncio.wait_for(media(self.session), timeout=self.state.settings.max_call_s)
        except TimeoutError:
            reason = "max_duration"
        self.ended_by = reason or ("caller" if self._carrier_ended else self._who_hung_up() if self._agent_hung_up
                                   else "shutdown" if self._shutdown else "stream_dropped")

    def _who_hung_up(self) -> str:
        return "voicemail" if self._voicemail else "supervisor" if self._supervisor_ended else "agent"

    def _watch(self, session: VoiceSession) -> None:
        """Live monitoring: number the call's events, mirror its transcript, take supervisor controls."""
        hub, admission, lifecycle = self.state.monitor, self.admission, self.state.lifecycle
        if hub is None:
            return
        mirror = functools.partial(lifecycle.record_live, admission) if lifecycle.record_live else None
        self.feed = CallFeed(hub.publisher, admission.account_id, admission.call_id, admission.bulk_call_id, mirror)
        session.events.subscribe(self.feed.on_live_event)
        hub.controls[(admission.account_id, admission.call_id)] = self._control
        self.feed.in_progress()
        if lifecycle.held is not None:
            self._spawn(asyncio.to_thread(lifecycle.held, admission, hub.task_id))

    async def _control(self, note: dict[str, Any]) -> None:
        """A supervisor control from the monitoring API (docs/monitoring.md), or the carrier's word on the call."""
        session, control = self.session, note.get("control") or {}
        kinds = ("say", "end_call", "voicemail", "caller_hung_up")
        if session is None or session.closed or not isinstance(control, dict) or control.get("type") not in kinds:
            return
        if control["type"] == "caller_hung_up":  # the carrier (WhatsApp) says the user hung up
            self._carrier_ended = True
            await self.transport.hang_up()
            return
        if control["type"] == "voicemail":  # from the carrier's machine detection, not a supervisor
            self._voicemail = True
            await session.leave_voicemail()
            return
        self.controls.append({**control, "requested_at": note.get("requested_at"), "applied_at": time.time()})
        if self.feed is not None:
            self.feed.control(control)
        if control["type"] == "say":
            await session.say(str(control.get("text") or ""))
        else:
            self._supervisor_ended = True
            await session.end_after_current()

    async def _announce_started(self, admission: Admission) -> None:
        try:
            await asyncio.to_thread(self.state.lifecycle.started, admission)
            self.state.counters["started_recorded"] += 1
        except Exception:
            log.exception("could not mark the call started")

    async def _agent_hang_up(self) -> None:
        self._agent_hung_up = True
        await self.transport.hang_up()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _end(self) -> None:
        """Close the conversation and finalize the call once (shielded from cancellation)."""
        session, admission = self.session, self.admission
        if self.state.monitor is not None:
            self.state.monitor.controls.pop((admission.account_id, admission.call_id), None)
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
            session.events.set_state("ended", reason=self.ended_by)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.feed is not None:
            await self.feed.flush()
        with contextlib.suppress(Exception):
            await self.transport.close()
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
        if self.feed is not None:
            self.feed.ended("completed", self.ended_by)
        if first:
            await self._complete(admission, result)

    async def _complete(self, admission: Admission, result: MediaResult) -> None:
        """Analyse the conversation (summary, sentiment, variables) and announce ``call.completed``."""
        lifecycle = self.state.lifecycle
        if lifecycle.complete is None:
            if self.feed is not None:
                self.feed.analysed("completed", round(result.duration_s, 2), None)
            return
        try:
            variables = await asyncio.to_thread(lifecycle.variables, admission) if lifecycle.variables else []
            model = self.engines.llm_model if self.engines is not None else None
            analysis = await post_call_analysis.analyze(result.transcript, variables, self._analysis_llm(),
                                                        options=LlmOptions(temperature=0.0, model=model),
                                                        timeout_s=self.state.settings.analysis_timeout_s)
            self.state.counters["analysis_errors"] += bool(analysis.errors)
            if self.feed is not None:
                self.feed.analysed("completed", round(result.duration_s, 2), analysis.to_json())
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
            "channel": self.transport.channel,
            "barge_ins": [b.latency_ms for b in session.barge_ins],
            "errors": session.errors,
            "engines": self.engines.to_json() if self.engines is not None else {},
            "controls": self.controls,
            "frames_out": output.frames_sent, "late_frames": output.late_frames, "clears": output.clears,
        }
        return MediaResult(ended_by=self.ended_by, transcript=session.conversation.to_json(),
                           turn_metrics=[m.to_json() for m in session.metrics], wav=session.recorder.wav_stream(),
                           duration_s=session.recorder.duration_s, conversation=conversation)
