"""The Twilio stand-in's callee with a voice: a scripted caller on the call's Media Stream.

When a simulated call is answered and its TwiML has ``<Connect><Stream>``, :class:`ScriptedCaller`
opens the stream with :class:`~devstack.media_client.MediaStreamClient` (as Twilio would) and plays
a caller script (:mod:`devstack.carrier_sim.scripts`), speaking sentences synthesized with Piper
(22.05 kHz, resampled to 8 kHz). All simulated calls share one background asyncio loop thread
(:class:`MediaLoop`), one HTTP session and one 20 ms ticker. When the script ends the callee hangs up
(``stop`` on the stream, the call ``completed``); when the server closes the stream first, the call
ends too (``<Connect>`` ends the call with its stream). When the rules have the carrier report the
call's end before its stream stops, the callee ends the call and the simulator stops the stream later.

:func:`devstack.carrier_sim.media_factory.scripted_media_factory` is the simulator's ``media_factory`` for all
this. The media client, numpy and Piper are imported when a call first needs them.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.carrier_sim.media import MediaContext
from devstack.carrier_sim.scripts import DEFAULT_SCRIPT, DEFAULT_WAIT_TIMEOUT, Step

if TYPE_CHECKING:
    import aiohttp

    from devstack.media_client import MediaStreamClient

log = logging.getLogger("parley.caller_voice")

# --------------------------------------------------------------------------------------------
# The shared loop and the caller's voice
# --------------------------------------------------------------------------------------------

class MediaLoop:
    """One background asyncio loop thread shared by every simulated call of the process."""

    _instance: MediaLoop | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="caller-voice-loop", daemon=True)
        self._thread.start()

    @classmethod
    def shared(cls) -> MediaLoop:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
                atexit.register(cls._instance.close)
            return cls._instance

    def submit(self, coro: Any) -> Future[Any]:
        """Run a coroutine on the loop thread (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, timeout: float = 2.0) -> None:
        """Close the shared HTTP session (registered at exit; the loop thread is a daemon)."""
        if self._session is not None and not self._session.closed and self.loop.is_running():
            try:
                self.submit(self._session.close()).result(timeout)
            except Exception as exc:
                log.debug("closing the caller-voice HTTP session failed: %r", exc)

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session every client of this loop shares (call on the loop thread)."""
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session


class CallerVoice:
    """Sentences as the caller says them: PCM16 at ``rate`` (8 kHz, a phone line's, by default), synthesized once
    per text and cached.

    Uses Piper (``streaming.engines.piper_tts``); with ``engine="tone"`` (or when Piper cannot be
    loaded) a speech-like buzz of the sentence's length stands in, enough for VAD and turn taking.
    """

    def __init__(self, engine: str = "piper", rate: int | None = None) -> None:
        self.engine = engine
        self.rate = rate
        self._cache: dict[str, asyncio.Future[bytes]] = {}
        self._tts: asyncio.Future[Any] | None = None

    async def phrase(self, text: str) -> bytes:
        future = self._cache.get(text)
        if future is None:
            future = self._cache[text] = asyncio.ensure_future(self._synthesize(text))
        return await asyncio.shield(future)

    async def _synthesize(self, text: str) -> bytes:
        from devstack.media_client import SAMPLE_RATE, resample

        rate = self.rate or SAMPLE_RATE
        if self.engine == "piper":
            try:
                from streaming.engines.piper_tts import PiperTts

                if self._tts is None:  # loading the voice blocks: not on the loop thread
                    self._tts = asyncio.ensure_future(asyncio.to_thread(PiperTts))
                tts = await asyncio.shield(self._tts)
                chunks = [chunk async for chunk in tts.synthesize(text)]
                return resample(b"".join(chunks), tts.sample_rate, rate)
            except ImportError as exc:
                log.warning("piper unavailable (%s): the simulated caller speaks in tones", exc)
                self.engine = "tone"
        return tone_speech(text, rate)


def tone_speech(text: str, sample_rate: int = 8000) -> bytes:
    """A speech-like stand-in: a 140 Hz buzz with harmonics, one 'syllable' envelope per 0.18 s,
    about 0.32 s per word."""
    import numpy as np

    seconds = max(0.4, 0.32 * len(text.split()))
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buzz = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * t / 0.18) ** 2
    return (buzz / 2.3 * envelope * 12000).astype(np.int16).tobytes()


_VOICES: dict[str, CallerVoice] = {}


def caller_voice(engine: str = "piper") -> CallerVoice:
    """The process-wide :class:`CallerVoice` for ``engine`` (its cache is shared by all calls)."""
    return _VOICES.setdefault(engine, CallerVoice(engine))


# --------------------------------------------------------------------------------------------
# The media session
# --------------------------------------------------------------------------------------------

class ScriptedCaller:
    """A :class:`~devstack.carrier_sim.media.MediaSession` that plays ``script`` on the call's stream.

    Calls without ``<Connect><Stream>`` (no stream, or a ``<Start>`` fork) behave as ``NoMedia``:
    the callee stays for the talk time and hangs up. ``recordings_dir`` (optional) receives
    ``<CallSid>.wav`` (the agent as played, mono 8 kHz) and ``<CallSid>-stereo.wav`` (left caller,
    right agent) when the call ends.
    """

    def __init__(self, script: Sequence[Step] = DEFAULT_SCRIPT, *, recordings_dir: str | Path | None = None,
                 voice: CallerVoice | None = None, media_loop: MediaLoop | None = None,
                 connect_timeout: float = 10.0) -> None:
        self.script = tuple(script)
        self.recordings_dir = Path(recordings_dir) if recordings_dir else None
        self.voice = voice
        self.media_loop = media_loop
        self.connect_timeout = connect_timeout
        self.client: MediaStreamClient | None = None
        self.url: str | None = None
        self.error: str | None = None
        self.steps: list[dict[str, Any]] = []
        self.recordings: dict[str, str] = {}
        self.script_finished = False
        self._ctx: MediaContext | None = None
        self._future: Future[None] | None = None
        self._answered = time.monotonic()
        self._stopped = False
        self._left_open = False  # the script ended the call; the simulator stops the stream later
        self._closing: asyncio.Future[None] | None = None

    # -- MediaSession ---------------------------------------------------------------------------

    def start(self, ctx: MediaContext) -> None:
        self._ctx = ctx
        self._answered = time.monotonic()
        if ctx.stream is None or ctx.stream.verb != "Connect":
            ctx.schedule(ctx.talk_time, ctx.hang_up)
            return
        self.url = ctx.stream.url
        self.media_loop = self.media_loop or MediaLoop.shared()
        self.voice = self.voice or caller_voice()
        self._future = self.media_loop.submit(self._run(ctx))

    def stop(self) -> None:
        """The call ended (any reason): hang up the stream if it is still open. Never blocks."""
        self._stopped = True
        if self.media_loop is not None and self._future is not None:
            self.media_loop.loop.call_soon_threadsafe(self._on_stop)

    def _on_stop(self) -> None:
        """On the loop: cancel the script, or close the stream a finished script left open."""
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            task.cancel()
        elif self._left_open and self.client is not None:
            self._left_open = False
            self._closing = asyncio.ensure_future(self._close_stream(self.client))

    # -- the script ---------------------------------------------------------------------------

    async def _run(self, ctx: MediaContext) -> None:
        from devstack.media_client import MediaStreamClient

        assert ctx.stream is not None and self.media_loop is not None and self.voice is not None
        self._task = asyncio.current_task()
        if self._stopped:  # the call ended before the loop got to it
            return
        client = self.client = MediaStreamClient(
            ctx.stream.url, call_sid=ctx.call_sid, account_sid=ctx.account_sid,
            parameters=ctx.stream.parameters, session=self.media_loop.session())
        ended_by = "callee"
        try:
            self._prefetch()  # synthesis starts now, while the call connects and the agent greets
            try:
                await client.connect(timeout=self.connect_timeout)
            except Exception as exc:
                self.error = f"stream connect failed: {type(exc).__name__}: {exc}"
                ended_by = "stream-error"
                return
            await self._converse(client)
            if client.closed_by_server:
                ended_by = "stream-ended"
            else:
                self.script_finished = not self._stopped
        except asyncio.CancelledError:
            pass  # the call ended elsewhere (API hang-up, reset)
        except Exception as exc:
            log.exception("scripted caller failed on %s", ctx.call_sid)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._stopped or client.closed or client.connected_at is None or not ctx.stream_outlives_call:
                await self._close_stream(client)
                if not self._stopped:
                    _end_call(ctx, ended_by)
            else:  # the carrier reports the call's end first, and calls stop() when the stream's time is up
                self._left_open = True
                _end_call(ctx, ended_by)

    def _prefetch(self) -> None:
        """Start synthesizing every sentence of the script (on the loop)."""
        assert self.voice is not None
        for step in self.script:
            if step.text:
                asyncio.ensure_future(self.voice.phrase(step.text))

    async def _converse(self, client: MediaStreamClient) -> None:
        """Play the script on the connected stream, until it ends, hangs up or the call ends."""
        for step in self.script:
            if client.closed or self._stopped:
                break
            if step.kind == "hang_up":
                break
            await self._play(client, step)

    async def _close_stream(self, client: MediaStreamClient) -> None:
        await client.hang_up()
        self._save_recordings(client)

    async def _play(self, client: MediaStreamClient, step: Step) -> None:
        assert self.voice is not None
        started = time.monotonic()
        record: dict[str, Any] = {**step.to_json(), "at": round(started - self._answered, 3)}
        self.steps.append(record)
        result: bool | None = None
        if step.kind == "wait_agent":
            result = await client.wait_agent_silence(step.seconds, timeout=step.timeout)
        elif step.kind == "say":
            client.say(await self.voice.phrase(step.text))
            result = await client.wait_sent()
        elif step.kind == "barge_in":
            pcm = await self.voice.phrase(step.text)
            result = await client.wait_agent_speech(timeout=DEFAULT_WAIT_TIMEOUT)
            if result:
                await asyncio.sleep(step.seconds)
            client.say(pcm)
            result = await client.wait_sent() and result
        elif step.kind == "pause":
            client.pause(step.seconds)
            result = await client.wait_sent()
        elif step.kind == "dtmf":
            for digit in step.digits:
                client.send_dtmf(digit)
                await asyncio.sleep(0.1)
            result = True
        record["ok"] = result
        record["took"] = round(time.monotonic() - started, 3)

    def _save_recordings(self, client: MediaStreamClient) -> None:
        if self.recordings_dir is None or client.connected_at is None or self._ctx is None:
            return
        try:
            base = self.recordings_dir / self._ctx.call_sid
            self.recordings = {
                "agent_wav": str(client.write_agent_wav(f"{base}.wav")),
                "stereo_wav": str(client.write_stereo_wav(f"{base}-stereo.wav")),
            }
        except OSError as exc:
            self.error = self.error or f"could not save recordings: {exc}"

    # -- inspection ---------------------------------------------------------------------------

    def inspection(self) -> dict[str, Any]:
        """The ``media`` section of ``GET /sim/calls/{sid}``."""
        client = self.client
        stats = client.stats() if client is not None else {}
        connected_after = None
        if client is not None and client.connected_at is not None:
            connected_after = round(client.connected_at - self._answered, 3)
        return {
            "kind": "scripted-caller",
            "stream_url": self.url,
            "connected": bool(stats.get("connected")),
            "connected_after_s": connected_after,
            "error": self.error,
            "script": [step.to_json() for step in self.script],
            "script_finished": self.script_finished,
            "steps": list(self.steps),
            "recording": self.recordings.get("agent_wav"),
            "recordings": dict(self.recordings),
            **{k: v for k, v in stats.items() if k != "connected"},
        }


def _end_call(ctx: MediaContext, by: str) -> None:
    end = getattr(ctx, "end_call", None)
    if end is not None:
        end(by)
    else:
        ctx.hang_up()
