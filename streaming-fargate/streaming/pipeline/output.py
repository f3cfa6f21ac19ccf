"""Agent audio out: 20 ms frames paced in real time, a mark after each phrase, ``clear`` on barge-in.

Each agent reply is an :class:`Utterance` of :class:`Phrase`\\ s that TTS fills while it plays. A
reply drafted speculatively waits (``released`` unset) until the caller's turn really ends. The
transport echoes each mark when its playback reaches it (Twilio tells; a WebRTC transport estimates),
so :meth:`AgentOutput.interrupt` knows which phrases the caller heard and how much of the one cut short.

Frames are the call core's audio format: 16-bit little-endian mono PCM at the transport's rate
(``Utterance.rate``); the transport encodes them for its wire. Pacing is the shared
:class:`FrameClock`'s job, unless the sink paces itself (``OutputSink.paces_itself``: it takes frames
as its own clock plays them, blocking ``send_audio`` while its short buffer is full).
"""
from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from streaming.audio import resample

FRAME_S = 0.02
TELEPHONY_RATE = 8000


def frame_bytes(rate: int) -> int:
    """Bytes of one 20 ms PCM16 frame at ``rate``."""
    return int(rate * FRAME_S) * 2


class PacingStats:
    """How late frames left against their due time (1 ms buckets), shared by every call of a process."""

    def __init__(self, buckets: int = 200) -> None:
        self.histogram = [0] * buckets
        self.frames = 0

    def record(self, lateness_s: float) -> None:
        self.frames += 1
        self.histogram[min(len(self.histogram) - 1, max(0, int(lateness_s * 1000)))] += 1

    def percentile_ms(self, q: float) -> float:
        target, seen = q * self.frames, 0
        for ms, count in enumerate(self.histogram):
            seen += count
            if seen >= target and count:
                return float(ms + 1)
        return 0.0

    def to_json(self) -> dict[str, float]:
        return {"frames": self.frames, "p50_ms": self.percentile_ms(0.5), "p99_ms": self.percentile_ms(0.99),
                "p999_ms": self.percentile_ms(0.999), "over_20ms": sum(self.histogram[20:])}


class OutputSink(Protocol):
    """What a transport offers the output: all three may be awaited; none may block for long, except
    ``send_audio`` of a sink that paces itself (it returns when its buffer has room)."""

    paces_itself: bool

    async def send_audio(self, pcm16: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...


@dataclass
class Phrase:
    name: str
    text: str
    frame_size: int = frame_bytes(TELEPHONY_RATE)
    frames: list[bytes] = field(default_factory=list)
    complete: bool = False  # TTS finished this phrase
    sent: int = 0
    filler: bool = False  # a filler said while the reply was slow (see ``pipeline.filler``), not content
    mark_sent: bool = False
    heard: bool = False  # the carrier echoed its mark after playing it
    _carry: bytes = b""

    def add_pcm(self, pcm16: bytes) -> None:
        """PCM16 at the utterance's rate, cut into whole frames (the rest waits for more)."""
        data = self._carry + pcm16
        size = self.frame_size
        whole = len(data) - len(data) % size
        self.frames.extend(data[i:i + size] for i in range(0, whole, size))
        self._carry = data[whole:]

    def finish(self) -> None:
        if self._carry:
            self.frames.append(self._carry + b"\x00" * (self.frame_size - len(self._carry)))
            self._carry = b""
        self.complete = True

    @property
    def played_fraction(self) -> float:
        return 1.0 if self.heard else (self.sent / len(self.frames) if self.frames else 0.0)


_utterance_ids = itertools.count(1)


@dataclass
class Utterance:
    """One agent reply (or the welcome message), at ``rate`` (the transport's PCM16 rate)."""

    interruptible: bool = True
    rate: int = TELEPHONY_RATE
    source: str = "speech"
    phrases: list[Phrase] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    producing_done: bool = False
    cancelled: bool = False
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    content_frame_at: float | None = None  # the first frame of content (a filler before it does not count)
    on_first_frame: Callable[[float], None] | None = None  # called at ``content_frame_at``
    hang_up_after: bool = False
    uid: int = field(default_factory=lambda: next(_utterance_ids))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def new_phrase(self, text: str) -> Phrase:
        phrase = Phrase(name=f"u{self.uid}p{len(self.phrases) + 1}", text=text, frame_size=frame_bytes(self.rate))
        self.phrases.append(phrase)
        self.changed()
        return phrase

    def add_audio(self, phrase: Phrase, pcm16: bytes, rate: int) -> None:
        phrase.add_pcm(resample(pcm16, rate, self.rate))
        self.changed()

    def end_phrase(self, phrase: Phrase) -> None:
        phrase.finish()
        self.changed()

    def done(self) -> None:
        self.producing_done = True
        self.changed()

    def changed(self) -> None:
        self._changed.set()

    def generated_text(self) -> str:
        return " ".join(p.text for p in self.phrases)

    @property
    def started(self) -> bool:
        return self.first_frame_at is not None


class AgentOutput:
    """Plays utterances one after another through ``sink``; one task per call."""

    def __init__(self, sink: OutputSink, on_frame: Callable[[bytes, float], None] | None = None,
                 on_finished: Callable[[Utterance], Awaitable[None] | None] | None = None,
                 pacing: PacingStats | None = None, clock: FrameClock | None = None,
                 on_phrase: Callable[[Utterance, Phrase], None] | None = None) -> None:
        self.sink = sink
        self.self_paced = bool(getattr(sink, "paces_itself", False))
        self.pacing = None if self.self_paced else pacing
        self.clock = clock or FrameClock()
        self._playback: _Playback | None = None
        self._stalled: asyncio.Future[str] | None = None
        self.on_frame = on_frame
        self.on_finished = on_finished
        self.on_phrase = on_phrase  # a phrase's first frame goes out (live captions)
        self.queue: deque[Utterance] = deque()
        self.current: Utterance | None = None
        self._wake = asyncio.Event()
        self._outstanding_marks: dict[str, Phrase] = {}
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        self.late_frames = 0
        self.clears = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-output")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.clock.discard(self)

    def enqueue(self, utterance: Utterance) -> None:
        self.queue.append(utterance)
        self._wake.set()

    @property
    def next_due(self) -> float | None:
        """When the next frame is due (None: unknown; the clock ticks this output at every pass)."""
        playback = self._playback
        return None if playback is None or playback.utterance.cancelled else playback.next_due

    @property
    def audible(self) -> bool:
        """The caller is (or is about to be) hearing agent audio: sent frames not yet confirmed played."""
        playing = self.current is not None and self.current.started and not self.current.cancelled
        return playing or bool(self._outstanding_marks)

    def mark_played(self, name: str) -> Phrase | None:
        phrase = self._outstanding_marks.pop(name, None)
        if phrase is not None:
            phrase.heard = True
        return phrase

    async def interrupt(self) -> Utterance | None:
        """Barge-in: stop playback now, drop every queued reply, ``clear`` the carrier's buffer.

        Returns the utterance that was playing (its phrases say what was heard), if any.
        """
        interrupted = self.current
        for utterance in [self.current, *self.queue]:
            if utterance is not None:
                utterance.cancelled = True
                utterance.changed()
        self.queue.clear()
        self.current = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.clock.discard(self)
        self._outstanding_marks.clear()
        self.clears += 1
        await self.sink.send_clear()
        self.start()
        return interrupted if interrupted is not None and interrupted.started else None

    def drop_unstarted(self, utterance: Utterance) -> None:
        """Withdraw a speculative reply that never played."""
        utterance.cancelled = True
        utterance.released.set()  # wake the player if it waits on this one; it skips cancelled replies
        utterance.changed()
        if utterance in self.queue:
            self.queue.remove(utterance)

    async def _run(self) -> None:
        while True:
            while not self.queue:
                self._wake.clear()
                await self._wake.wait()
            utterance = self.queue[0]
            await utterance.released.wait()
            if self.queue and self.queue[0] is utterance:
                self.queue.popleft()
            if utterance.cancelled:
                continue
            self.current = utterance
            await self._play(utterance)
            self.current = None
            if self.on_finished is not None and not utterance.cancelled:
                result = self.on_finished(utterance)
                if result is not None:
                    await result

    async def _play(self, utterance: Utterance) -> None:
        """Send the utterance's frames on time: the first at once, the rest from the shared clock."""
        loop = asyncio.get_running_loop()
        playback = _Playback(utterance)
        try:
            while True:
                status = await self._advance(playback, math.inf if self.self_paced else loop.time())
                if status == _WAIT:
                    self._stalled = loop.create_future()
                    self.clock.add(self)
                    status = await self._stalled
                if status == _DONE:
                    return
                # Underrun: wait for TTS, then restart the clock so late audio is not burst out.
                if not self._frame_ready(playback):
                    utterance._changed.clear()
                    await utterance._changed.wait()
        finally:
            self.clock.discard(self)
            self._playback = None

    def _frame_ready(self, playback: _Playback) -> bool:
        phrases = playback.utterance.phrases
        if playback.index >= len(phrases):
            return playback.utterance.producing_done
        phrase = phrases[playback.index]
        return phrase.sent < len(phrase.frames) or phrase.complete

    async def tick(self, horizon: float) -> bool:
        """Called by the clock: send what is due by ``horizon``. False once this output needs no more ticks."""
        playback = self._playback
        if playback is None:
            return False
        status = await self._advance(playback, horizon)
        if status == _WAIT:
            return True
        if self._stalled is not None and not self._stalled.done():
            self._stalled.set_result(status)
        return False

    async def _advance(self, playback: _Playback, horizon: float) -> str:
        self._playback = playback
        utterance = playback.utterance
        loop = asyncio.get_running_loop()
        while not utterance.cancelled:
            if playback.index < len(utterance.phrases):
                phrase = utterance.phrases[playback.index]
                if phrase.sent < len(phrase.frames):
                    now = loop.time()
                    if playback.next_due is None:
                        playback.next_due = now
                    if playback.next_due > horizon:
                        return _WAIT
                    lateness = now - playback.next_due
                    if lateness > FRAME_S and not self.self_paced:
                        self.late_frames += 1
                    if self.pacing is not None:
                        self.pacing.record(lateness)
                    frame = phrase.frames[phrase.sent]
                    if phrase.sent == 0 and self.on_phrase is not None:
                        self.on_phrase(utterance, phrase)
                    phrase.sent += 1
                    playback.next_due += FRAME_S
                    await self.sink.send_audio(frame)
                    self._sent(utterance, frame, phrase.filler)
                    continue
                if phrase.complete:
                    if phrase.frames and not phrase.mark_sent:
                        phrase.mark_sent = True
                        self._outstanding_marks[phrase.name] = phrase
                        await self.sink.send_mark(phrase.name)
                    elif not phrase.frames:
                        phrase.heard = True
                    playback.index += 1
                    continue
            elif utterance.producing_done:
                return _DONE
            playback.next_due = None
            return _UNDERRUN
        return _DONE

    def _sent(self, utterance: Utterance, frame: bytes, filler: bool = False) -> None:
        now = time.monotonic()
        self.frames_sent += 1
        if utterance.first_frame_at is None:
            utterance.first_frame_at = now
        if utterance.content_frame_at is None and not filler:
            utterance.content_frame_at = now
            if utterance.on_first_frame is not None:
                utterance.on_first_frame(now)
        utterance.last_frame_at = now
        if self.on_frame is not None:
            self.on_frame(frame, now)


_WAIT, _UNDERRUN, _DONE = "wait", "underrun", "done"


@dataclass
class _Playback:
    utterance: Utterance
    index: int = 0
    next_due: float | None = None


class Paced(Protocol):
    """What the frame clock drives: an agent output, or a line sending frames of its own (a background track)."""

    @property
    def next_due(self) -> float | None: ...

    async def tick(self, horizon: float) -> bool: ...


class FrameClock:
    """The pacing clock every agent output of a process shares.

    One task wakes every ``resolution_s`` and sends each playing output's frames that are due (up to
    half a resolution early): a few hundred wake-ups a second whatever the number of calls, instead of
    one timer and one task switch per frame per call. A frame leaves within +-2.5 ms of its due time
    when the process keeps up; a late frame is sent at once and counted, never dropped.
    """

    def __init__(self, resolution_s: float = 0.005) -> None:
        self.resolution_s = resolution_s
        self._outputs: dict[Paced, None] = {}  # insertion-ordered set
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def add(self, output: Paced) -> None:
        self._outputs[output] = None
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="frame-clock")
        assert self._wake is not None
        self._wake.set()

    def discard(self, output: Paced) -> None:
        self._outputs.pop(output, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        next_tick = loop.time()
        while True:
            if not self._outputs:
                self._wake.clear()
                await self._wake.wait()
                next_tick = loop.time()
            horizon = loop.time() + self.resolution_s / 2
            for output in list(self._outputs):
                due = output.next_due
                if due is not None and due > horizon:
                    continue  # nothing due yet: skip without even creating a coroutine
                if output not in self._outputs:
                    continue
                try:
                    keep = await output.tick(horizon)
                except Exception:  # a broken socket must not stop every other call's audio
                    keep = False
                if not keep:
                    self._outputs.pop(output, None)
            next_tick = max(next_tick + self.resolution_s, loop.time())
            await asyncio.sleep(next_tick - loop.time())
