"""Stereo call recording: caller on the left channel, agent on the right, both at 8 kHz.

Both tracks are kept as mu-law (one byte per sample) in time order: caller frames arrive
continuously; agent frames are placed at the time they were sent, silence in between.
"""
from __future__ import annotations

import io
import wave

import numpy as np

from streaming.audio import mulaw_to_pcm16

RATE = 8000
MULAW_SILENCE = b"\xff"


class StereoRecorder:
    def __init__(self, t0: float, max_seconds: int = 4 * 3600) -> None:
        self.t0 = t0
        self.caller = bytearray()
        self.agent = bytearray()
        self.max_bytes = max_seconds * RATE

    def caller_frame(self, mulaw: bytes) -> None:
        if len(self.caller) < self.max_bytes:
            self.caller += mulaw

    def agent_frame(self, mulaw: bytes, at: float) -> None:
        position = int((at - self.t0) * RATE)
        position -= position % 160
        if len(self.agent) < position:
            self.agent += MULAW_SILENCE * (position - len(self.agent))
        if len(self.agent) < self.max_bytes:
            self.agent += mulaw

    @property
    def duration_s(self) -> float:
        return max(len(self.caller), len(self.agent)) / RATE

    def wav(self) -> bytes:
        length = max(len(self.caller), len(self.agent))
        left = np.frombuffer(mulaw_to_pcm16(bytes(self.caller).ljust(length, MULAW_SILENCE)), dtype=np.int16)
        right = np.frombuffer(mulaw_to_pcm16(bytes(self.agent).ljust(length, MULAW_SILENCE)), dtype=np.int16)
        stereo = np.empty(2 * length, dtype=np.int16)
        stereo[0::2], stereo[1::2] = left, right
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(stereo.tobytes())
        return buffer.getvalue()
