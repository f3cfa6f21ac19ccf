"""Agent audio out: 20 ms frames paced in real time, a mark after each phrase, ``clear`` on barge-in.

Each agent reply is an :class:`Utterance` of :class:`Phrase`\\ s that TTS fills while it plays. A
reply drafted speculatively waits (``released`` unset) until the caller's turn really ends. The
carrier echoes each mark when its playback reaches it, so :meth:`AgentOutput.interrupt` knows which
phrases the caller heard and how much of the one cut short.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from streaming.audio import pcm16_to_mulaw, resample

FRAME_S = 0.02
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law


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
    """What a transport offers the output: all three may be awaited; none may block for long."""

    async def send_audio(self, mulaw: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...


@dataclass
class Phrase:
    name: str
    text: str
    frames: list[bytes] = field(default_factory=list)
    complete: bool = False  # TTS finished this phrase
    sent: int = 0
    mark_sent: bool = False
    heard: bool = False  # the carrier echoed its mark after playing it
    _carry: bytes = b""

    def add_pcm(self, pcm16_8k: bytes) -> None:
        data = self._carry + pcm16_to_mulaw(pcm16_8k)
        whole = len(data) - len(data) % FRAME_BYTES
        self.frames.extend(data[i:i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES))
        self._carry = data[whole:]

    def finish(self) -> None:
        if self._carry:
            self.frames.append(self._carry + b"\xff" * (FRAME_BYTES - len(self._carry)))
            self._carry = b""
        self.complete = True

    @property
    def played_fraction(self) -> float:
        return 1.0 if self.heard else (self.sent / len(self.frames) if self.frames else 0.0)


_utterance_ids = itertools.count(1)


@dataclass
class Utterance:
    """One agent reply (or the welcome message)."""

    interruptible: bool = True
    source: str = "speech"
    phrases: list[Phrase] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    producing_done: bool = False
    cancelled: bool = False
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    on_first_frame: Callable[[float], None] | None = None
    hang_up_after: bool = False
    uid: int = field(default_factory=lambda: next(_utterance_ids))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def new_phrase(self, text: str) -> Phrase:
        phrase = Phrase(name=f"u{self.uid}p{len(self.phrases) + 1}", text=text)
        self.phrases.append(phrase)
        self.changed()
        return phrase

    def add_audio(self, phrase: Phrase, pcm16: bytes, rate: int) -> None:
        phrase.add_pcm(resample(pcm16, rate, 8000))
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
                 pacing: PacingStats | None = None) -> None:
        self.sink = sink
        self.pacing = pacing
        self.on_frame = on_frame
        self.on_finished = on_finished
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

    def enqueue(self, utterance: Utterance) -> None:
        self.queue.append(utterance)
        self._wake.set()

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
        loop = asyncio.get_running_loop()
        clock_start: float | None = None
        count = 0
        index = 0
        while not utterance.cancelled:
            if index < len(utterance.phrases):
                phrase = utterance.phrases[index]
                if phrase.sent < len(phrase.frames):
                    if clock_start is None:
                        clock_start = loop.time() - count * FRAME_S
                    due = clock_start + count * FRAME_S
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -FRAME_S:
                        self.late_frames += 1
                    frame = phrase.frames[phrase.sent]
                    if self.pacing is not None:
                        self.pacing.record(loop.time() - due)
                    await self.sink.send_audio(frame)
                    now = time.monotonic()
                    phrase.sent += 1
                    count += 1
                    self.frames_sent += 1
                    if utterance.first_frame_at is None:
                        utterance.first_frame_at = now
                        if utterance.on_first_frame is not None:
                            utterance.on_first_frame(now)
                    utterance.last_frame_at = now
                    if self.on_frame is not None:
                        self.on_frame(frame, now)
                    continue
                if phrase.complete:
                    if phrase.frames and not phrase.mark_sent:
                        phrase.mark_sent = True
                        self._outstanding_marks[phrase.name] = phrase
                        await self.sink.send_mark(phrase.name)
                    elif not phrase.frames:
                        phrase.heard = True
                    index += 1
                    continue
            elif utterance.producing_done:
                return
            # Underrun: wait for TTS, then restart the clock so late audio is not burst out.
            clock_start = None
            utterance._changed.clear()
            await utterance._changed.wait()
