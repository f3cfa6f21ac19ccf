"""The Twilio transport: one Media Streams WebSocket, from ``start`` to the end of its call.

``start`` must come first with a supported codec and the call's signed ``call_id``/``token``
parameters; otherwise the stream is closed (1003 for a codec we cannot take, 1008 for a refused
admission, a second stream for a live call, or a hostile message) and nothing is written. Once admitted,
the call belongs to the call core (:class:`~streaming.call_core.LiveCall`), which finalizes it exactly
once however the stream ends: ``stop`` from the carrier, the agent hanging up, a dropped socket, a
shutdown, or the stream closed by policy (1008): no media for ``idle_timeout_s``, caller audio faster
than ``max_audio_rate`` times real time, or a hostile message. Keypad digits beyond
:class:`~streaming.transports.limits.DtmfLimit` are dropped.

What this transport does for the core: 8 kHz mu-law <-> PCM16 at 8 kHz, pacing by the shared frame
clock, ``clear`` on barge-in, and Twilio's mark echoes as the record of what the caller heard.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from chalicelib.domain.call_media import Rejected
from streaming.audio import mulaw_to_pcm16
from streaming.call_core import LiveCall, ServiceState
from streaming.pipeline.keypad import DTMF_SETTLE_S
from streaming.pipeline.live_events import Listener
from streaming.pipeline.output import TELEPHONY_RATE, OutputSink
from streaming.pipeline.session import VoiceSession
from streaming.transports import twilio
from streaming.transports.limits import AudioRateLimit, DtmfLimit

log = logging.getLogger("parley.streaming.twilio")
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001


class TwilioMediaStream:
    channel = "phone"
    media_rate = TELEPHONY_RATE

    def __init__(self, state: ServiceState, ws: web.WebSocketResponse) -> None:
        self.state = state
        self.ws = ws
        self._sink: twilio.TwilioSink | None = None

    async def run(self) -> None:
        counters = self.state.counters
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
        except Exception:
            counters["errors"] += 1
            log.exception("admission failed")
            await self._reject(CLOSE_POLICY, "admission failed")
            return
        if LiveCall.live_here(self.state, admission):  # the call record's claim covers every task
            counters["rejected_duplicate"] += 1
            await self._reject(CLOSE_POLICY, "the call already has a live media stream")
            return
        self._sink = twilio.TwilioSink(self.ws, start.stream_sid)
        await LiveCall(self.state, admission, self).run(self._pump)

    # ---------------------------------------------------------------- what the core asks of a transport

    def sink(self) -> OutputSink:
        assert self._sink is not None
        return self._sink

    def live_events(self) -> Listener | None:
        return None  # Media Streams has no place for captions

    async def hang_up(self) -> None:
        await self.ws.close()

    async def shut_down(self) -> None:
        await self.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()

    # ---------------------------------------------------------------- the wire

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

    async def _pump(self, session: VoiceSession) -> str | None:
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
                    return await self._close_by_policy("idle", f"no media for {settings.idle_timeout_s:g} s",
                                                       "closed_idle")
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return None
            if message.type != WSMsgType.TEXT:
                counters["malformed"] += 1
                continue
            event = twilio.parse(message.data)
            if isinstance(event, twilio.Media):
                if event.track in ("inbound", "inbound_track") and event.payload:
                    now = time.monotonic()
                    idle_deadline = now + settings.idle_timeout_s
                    if rate.exceeded(len(event.payload), now):
                        return await self._close_by_policy("audio_too_fast", "audio faster than real time",
                                                           "refused_too_fast")
                    await session.on_audio(mulaw_to_pcm16(event.payload), now)
            elif isinstance(event, twilio.Mark):
                session.on_mark(event.name)
            elif isinstance(event, twilio.Dtmf):
                if keypad.admit(event.digit, time.monotonic()):
                    await session.on_dtmf(event.digit)
                else:
                    counters["dtmf_dropped"] += 1
            elif isinstance(event, twilio.StreamStopped):
                return "caller"
            elif isinstance(event, twilio.Malformed):
                if event.fatal:
                    return await self._close_by_policy("protocol_error", event.reason, "refused_malformed")
                counters["malformed"] += 1
            elif isinstance(event, twilio.Unknown):
                counters["unknown_events"] += 1

    async def _close_by_policy(self, ended_by: str, reason: str, counter: str) -> str:
        """End an admitted stream that broke a rule (1008 with ``reason``); the call is then finalized."""
        self.state.counters[counter] += 1
        await self._reject(CLOSE_POLICY, reason)
        return ended_by
