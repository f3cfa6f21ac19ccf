"""The agent's background track: an ambience looped under the whole call, the agent's speech mixed on top.

The track (``streaming/assets/<name>.wav``, names in :data:`~chalicelib.domain.background_tracks.BACKGROUND_TRACKS`)
is resampled once per process to each media rate, as a loop (through the FFT of the whole track, so the
loop stays seamless), and scaled once per volume. A call's :class:`Ambience` hands out the next 20 ms of
it for every frame the caller hears: alone while the agent is silent, added under the agent's frame
(saturating, no wrap-around) while it speaks. The cursor moves one frame per frame played, so the loop is
continuous whatever the agent does, and barge-in (``clear``) stops only the agent's speech.

Where the ambience is played depends on who paces the transport's audio:

- a sink paced by the shared frame clock (Twilio) is wrapped in an :class:`AmbientLine`: the agent's frames
  still leave when the output sends them (so a reply's first audio is measured as before), mixed; between
  them the line sends ambience frames itself, driven by the same clock, whenever the carrier's buffer
  (modelled from what was sent) is about to run dry. The buffer never grows: at most one frame of ambience
  is queued ahead of a reply's first frame, and the model re-anchors after a stall instead of bursting;
- a sink that paces itself (WebRTC: a track pulls a frame every 20 ms) mixes where it plays the frames out
  (:class:`MixesAmbience`).

With an ambience, what the caller hears (the mix) is what the recording's agent channel gets.
"""
from __future__ import annotations

import asyncio
import logging
import time
import wave
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from chalicelib.domain.agent_settings import BackgroundTrack
from chalicelib.domain.background_tracks import DEFAULT_BACKGROUND_TRACK
from streaming.pipeline.output import FRAME_S, FrameClock, OutputSink, PacingStats

log = logging.getLogger("parley.streaming.background")
ASSETS = Path(__file__).resolve().parent.parent / "assets"
HOLD_S = 0.005
"""While the agent speaks, an ambience frame waits this long past the carrier's modelled buffer end (one
clock resolution), so the agent's next frame, due a little earlier, keeps its place."""

FrameListener = Callable[[bytes, float], None]


@lru_cache(maxsize=8)
def track(name: str, rate: int) -> np.ndarray:
    """The named track as int16 samples at ``rate``, a whole number of 20 ms frames long (read-only)."""
    with wave.open(str(ASSETS / f"{name}.wav"), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError(f"{name}.wav must be 16-bit mono")
        native = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float64)
    frame = int(rate * FRAME_S)
    count = int(round(len(samples) * rate / native))
    count -= count % frame
    # Resampled as one period of a loop: truncating (or zero-padding) the spectrum keeps the seam seamless.
    spectrum = np.fft.rfft(samples)
    bins = count // 2 + 1
    resized = np.zeros(bins, dtype=complex)
    keep = min(bins, len(spectrum))
    resized[:keep] = spectrum[:keep]
    out = np.fft.irfft(resized, count) * (count / len(samples))
    result = np.clip(np.round(out), -32768, 32767).astype(np.int16)
    result.flags.writeable = False
    return result


def track_rms(name: str, rate: int) -> float:
    """The track's RMS at ``rate`` (at volume 1)."""
    return float(np.sqrt(np.mean(track(name, rate).astype(np.float64) ** 2)))


@lru_cache(maxsize=16)  # ~0.4 MB (8 kHz) or ~0.8 MB (16 kHz) each; volumes are rounded to 0.01 to share them
def _scaled(name: str, rate: int, volume: float) -> tuple[np.ndarray, bytes]:
    """The track at ``volume``, as int32 samples (to add speech to) and as PCM16 bytes (played alone)."""
    samples = np.clip(np.round(track(name, rate).astype(np.float64) * volume), -32768, 32767).astype("<i2")
    wide = samples.astype(np.int32)
    wide.flags.writeable = False
    return wide, samples.tobytes()


class Ambience:
    """One call's position in its background track at its media rate. Every call to :meth:`next` is one
    20 ms frame the caller hears; ``on_frame`` (the recorder) gets each as heard."""

    def __init__(self, name: str, rate: int, volume: float, on_frame: FrameListener | None = None) -> None:
        self.name = name
        self.rate = rate
        self.volume = volume
        self.on_frame = on_frame
        self._samples, self._bytes = _scaled(name, rate, volume)
        self._frame = int(rate * FRAME_S)
        self._length = len(self._samples)
        self._position = 0
        self._sum = np.empty(self._frame, dtype=np.int32)
        self.frames = 0

    @classmethod
    def for_agent(cls, setting: BackgroundTrack | None, rate: int,
                  on_frame: FrameListener | None = None) -> Ambience | None:
        """The agent's ambience, or None when it has none (disabled, or at volume 0)."""
        if setting is None or not setting.enabled or setting.volume <= 0:
            return None
        name = setting.name or DEFAULT_BACKGROUND_TRACK
        try:
            return cls(name, rate, round(setting.volume, 2), on_frame)
        except (OSError, ValueError, EOFError, wave.Error):
            log.exception("background track %r cannot be played; the call goes on without it", name)
            return None

    def next(self, speech: bytes | None = None) -> bytes:
        """The next frame the caller hears: the ambience alone (``speech`` None) or under ``speech``."""
        start = self._position
        end = start + self._frame
        self._position = 0 if end >= self._length else end
        self.frames += 1
        if speech is None:
            out = self._bytes[2 * start:2 * end]
        elif len(speech) == 2 * self._frame:  # np.clip's wrapper costs more than the whole mix: min/max in place
            mixed = np.add(np.frombuffer(speech, dtype="<i2"), self._samples[start:end], out=self._sum)
            np.minimum(mixed, 32767, out=mixed)
            np.maximum(mixed, -32768, out=mixed)
            out = mixed.astype("<i2").tobytes()
        else:  # not a whole frame (no transport sends one): mixed as far as it goes
            voice = np.frombuffer(speech, dtype="<i2")
            count = min(len(voice), self._frame)
            mixed = np.add(voice[:count], self._samples[start:start + count], dtype=np.int32)
            out = np.clip(mixed, -32768, 32767).astype("<i2").tobytes() + speech[2 * count:]
        if self.on_frame is not None:
            self.on_frame(out, time.monotonic())
        return out


@runtime_checkable
class MixesAmbience(Protocol):
    """A sink that paces itself and can play an ambience under the frames where it plays them out."""

    def play_under(self, ambience: Ambience) -> None: ...


class AmbientLine:
    """A clock-paced sink (Twilio) with the ambience under it: the agent's frames go out mixed when the output
    sends them; in between, the line sends ambience frames on the shared clock, so the caller hears a
    continuous stream.

    ``_playout_end`` models the carrier's buffer: when what was sent so far ends playing (a late send keeps
    the 20 ms grid; one more than a frame late starts a new one, as the carrier has run dry). An ambience frame
    is due when that buffer empties (plus :data:`HOLD_S` while the agent speaks), so frames never pile up.
    """

    paces_itself = False

    def __init__(self, sink: OutputSink, ambience: Ambience, clock: FrameClock,
                 pacing: PacingStats | None = None) -> None:
        self.sink = sink
        self.ambience = ambience
        self.clock = clock
        self.pacing = pacing
        self.next_due: float | None = None  # when the next ambience frame is due (None: now); the clock reads it
        self._playout_end: float | None = None
        self.closed = False
        self.ambience_frames = 0
        self.late_frames = 0

    def start(self) -> None:
        self.clock.add(self)

    def close(self) -> None:
        self.closed = True
        self.clock.discard(self)

    async def send_audio(self, pcm16: bytes) -> None:
        self._played(asyncio.get_running_loop().time(), speech=True)
        await self.sink.send_audio(self.ambience.next(pcm16))

    async def send_mark(self, name: str) -> None:
        await self.sink.send_mark(name)

    async def send_clear(self) -> None:
        self._playout_end = self.next_due = None  # the carrier drops what it holds: the ambience goes on at once
        await self.sink.send_clear()

    async def tick(self, horizon: float) -> bool:
        """Called by the clock: send the ambience frames due by ``horizon``. False once the line is closed."""
        loop = asyncio.get_running_loop()
        while not self.closed and (self.next_due is None or self.next_due <= horizon):
            now = loop.time()
            lateness = 0.0 if self.next_due is None else now - self.next_due  # None: due as soon as it can go
            if lateness > FRAME_S:
                self.late_frames += 1
            if self.pacing is not None:
                self.pacing.record(lateness)
            self._played(now, speech=False)
            self.ambience_frames += 1
            await self.sink.send_audio(self.ambience.next())
        return not self.closed

    def _played(self, now: float, *, speech: bool) -> None:
        end = self._playout_end
        self._playout_end = (end if end is not None and now - end < FRAME_S else now) + FRAME_S
        self.next_due = self._playout_end + (HOLD_S if speech else 0.0)


class Background:
    """A call's background track wiring: the sink the agent's output uses, and the line to start and close.

    ``mixing``: the ambience is played (and recorded) where the frames go out, so the output must not record
    the agent's frames itself. No ambience (or a self-pacing sink that cannot mix): the sink as it is."""

    def __init__(self, sink: OutputSink, ambience: Ambience | None, clock: FrameClock,
                 pacing: PacingStats | None = None) -> None:
        self.sink = sink
        self.line: AmbientLine | None = None
        self.mixing = ambience is not None
        if ambience is None:
            return
        if not getattr(sink, "paces_itself", False):
            self.sink = self.line = AmbientLine(sink, ambience, clock, pacing)
        elif isinstance(sink, MixesAmbience):
            sink.play_under(ambience)
        else:
            self.mixing = False
            log.warning("this transport cannot play a background track; the call goes on without it")

    def start(self) -> None:
        if self.line is not None:
            self.line.start()

    def close(self) -> None:
        if self.line is not None:
            self.line.close()
