"""The WebRTC transport's outbound audio: the agent's frames paced onto aiortc's Opus encoder.

The core's format is PCM16 mono at 16 kHz; agent audio is tripled to 48 kHz on its way to aiortc's Opus encoder
(:class:`AgentAudioTrack`).

Pacing: the outbound track (:class:`AgentAudioTrack`) is pulled by aiortc's RTP sender; it hands out
one 20 ms frame per 20 ms of wall clock (silence when the agent is quiet, or the agent's background track,
which the sink mixes under every frame it hands out: :meth:`WebRtcSink.play_under`). The core's output pushes
frames into :class:`WebRtcSink`, which holds at most ``BUFFER_FRAMES`` of them: it paces itself, so
barge-in drops at most that much queued audio and playback stops within one frame.

What the caller heard: WebRTC has no marks, so the sink makes its own. A phrase's mark travels in the
buffer behind its last frame; when the track hands that frame to the encoder, the mark is echoed
``playout_delay_s`` later (network and the browser's jitter buffer, 100 ms by default, configurable):
the phrase is then counted as heard. A phrase cut short counts the frames handed out, which is at most
``BUFFER_FRAMES`` frames plus the playout delay ahead of what the caller really heard.
"""
from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from streaming.pipeline.background import Ambience
from streaming.pipeline.output import FRAME_S, frame_bytes

OPUS_RATE = 48000
BUFFER_FRAMES = 2


class WebRtcSink:
    """Agent audio waiting for the outbound track, with the phrase marks between the frames."""

    paces_itself = True

    def __init__(self, on_mark: Callable[[str], None], playout_delay_s: float,
                 buffer_frames: int = BUFFER_FRAMES) -> None:
        self._items: deque[bytes | str] = deque()  # bytes: a frame; str: a mark
        self._frames = 0
        self._room = asyncio.Event()
        self._room.set()
        self._on_mark = on_mark
        self._playout_delay_s = playout_delay_s
        self._buffer_frames = buffer_frames
        self._ambience: Ambience | None = None
        self.closed = False

    def play_under(self, ambience: Ambience) -> None:
        """Play ``ambience`` under the agent's frames, and alone when there are none (never silence)."""
        self._ambience = ambience

    async def send_audio(self, pcm16: bytes) -> None:
        while self._frames >= self._buffer_frames and not self.closed:
            self._room.clear()
            await self._room.wait()
        if self.closed:
            return
        self._items.append(pcm16)
        self._frames += 1

    async def send_mark(self, name: str) -> None:
        self._items.append(name)

    async def send_clear(self) -> None:
        self._items.clear()  # unplayed frames and their marks: never heard
        self._frames = 0
        self._room.set()

    def next_frame(self) -> bytes | None:
        """The frame to play now (None: silence); echoes the marks of what was played. With an ambience, the
        agent's frame mixed over it, or the ambience alone."""
        loop = asyncio.get_running_loop()
        frame = None
        while self._items:
            item = self._items[0]
            if isinstance(item, str):
                self._items.popleft()
                loop.call_later(self._playout_delay_s, self._on_mark, item)
                continue
            if frame is not None:
                break  # the marks right behind this frame were echoed; the next frame waits its turn
            frame = item
            self._items.popleft()
            self._frames -= 1
            self._room.set()
        return frame if self._ambience is None else self._ambience.next(frame)

    def close(self) -> None:
        self.closed = True
        self._room.set()


class PacedAudioTrack(MediaStreamTrack):
    """An outbound audio track of 20 ms PCM16 mono frames at ``rate``, one per 20 ms of wall clock.

    aiortc's RTP sender pulls frames as fast as ``recv`` returns them: the pacing is the track's. Subclasses
    say what to play next (:meth:`next_pcm`); nothing to play is silence.
    """

    kind = "audio"

    def __init__(self, rate: int) -> None:
        super().__init__()
        self._rate = rate
        self._samples = int(rate * FRAME_S)
        self._silence = bytes(frame_bytes(rate))
        self._time_base = fractions.Fraction(1, rate)
        self._start: float | None = None
        self._pts = 0

    def next_pcm(self) -> bytes | None:
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self._samples
            wait = self._start + self._pts / self._rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(self.next_pcm() or self._silence)
        frame.pts = self._pts
        frame.sample_rate = self._rate
        frame.time_base = self._time_base
        return frame


class AgentAudioTrack(PacedAudioTrack):
    """The agent's voice at 48 kHz: the sink's 16 kHz frames, tripled, or silence.

    Opus codes 48 kHz; handing aiortc's encoder anything else makes its resampler hold each frame until the
    next one completes a 960-sample block (20 ms more latency, and a resampler pass per frame).
    """

    def __init__(self, sink: WebRtcSink) -> None:
        super().__init__(OPUS_RATE)
        self._sink = sink
        self._upsample = Upsampler3x()

    def next_pcm(self) -> bytes | None:
        frame = self._sink.next_frame()
        if frame is None:
            self._upsample.reset()
            return None
        return self._upsample(frame)


class Upsampler3x:
    """16 -> 48 kHz PCM16 by linear interpolation, continuous across frames (one sample of delay)."""

    def __init__(self) -> None:
        self._last = 0.0
        self._steps = np.array([1 / 3, 2 / 3, 1.0], dtype=np.float32)

    def reset(self) -> None:
        self._last = 0.0

    def __call__(self, pcm16: bytes) -> bytes:
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32)
        previous = np.empty_like(samples)
        previous[0] = self._last
        previous[1:] = samples[:-1]
        self._last = float(samples[-1])
        out = previous[:, None] + (samples - previous)[:, None] * self._steps
        return out.reshape(-1).astype("<i2").tobytes()
