"""What the simulated user hears: the agent's audio as it arrived (48 kHz mono PCM16, 20 ms frames with their
arrival times), its speech segments, and waits on them for the caller script."""
from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack

from devstack.web_peer import RATE, SPEECH_RMS, ReceivedFrame, receive_audio

SEGMENT_GAP_S = 0.3  # unvoiced time that ends a speech segment
POLL_S = 0.02


@dataclass
class AgentListener:
    keep_audio: bool = True
    frames: list[ReceivedFrame] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    segments: list[list[float]] = field(default_factory=list)  # [start, end] monotonic times
    first_frame_at: float | None = None
    last_voiced_at: float | None = None

    @property
    def audio_ms(self) -> int:
        return len(self.frames) * 20

    @property
    def speech_ms(self) -> int:
        return int(sum(end - start for start, end in self.segments) * 1000)

    def segments_json(self) -> list[dict[str, int]]:
        origin = self.first_frame_at or 0.0
        return [{"start_ms": int((start - origin) * 1000), "end_ms": int((end - origin) * 1000)}
                for start, end in self.segments]

    def heard(self, at: float, rms: float, pcm: bytes) -> None:
        self.first_frame_at = self.first_frame_at or at
        self.frames.append(ReceivedFrame(at, rms))
        if self.keep_audio:
            self.audio += pcm
        if rms <= SPEECH_RMS:
            return
        if self.segments and at - self.segments[-1][1] <= SEGMENT_GAP_S:
            self.segments[-1][1] = at
        else:
            self.segments.append([at, at])
        self.last_voiced_at = at

    async def read(self, track: MediaStreamTrack) -> None:
        """Receive the agent's track until it ends."""
        await receive_audio(track, self.heard)

    def talking(self, now: float) -> bool:
        return self.last_voiced_at is not None and now - self.last_voiced_at <= SEGMENT_GAP_S

    async def wait_speech(self, timeout: float, abort: Callable[[], bool] = lambda: False) -> bool:
        """Until the agent is heard talking; False on timeout or ``abort()``."""
        return await until(lambda: self.talking(time.monotonic()), timeout, abort)

    async def wait_silence(self, silence_s: float, timeout: float, abort: Callable[[], bool] = lambda: False) -> bool:
        """Until the agent has talked (now or after this call) and then been quiet ``silence_s``; False on
        timeout or ``abort()``."""
        since = time.monotonic()

        def done() -> bool:
            last = self.last_voiced_at
            spoke = last is not None and (last >= since or since - last <= SEGMENT_GAP_S)
            return spoke and last is not None and time.monotonic() - last >= silence_s

        return await until(done, timeout, abort)

    def wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(bytes(self.audio))
        return buffer.getvalue()


async def until(predicate: Callable[[], bool], timeout: float, abort: Callable[[], bool] = lambda: False) -> bool:
    """Poll ``predicate`` every 20 ms (one audio frame) until it holds (True), or ``timeout`` passes or
    ``abort()`` holds (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline or abort():
            return False
        await asyncio.sleep(POLL_S)
    return True
