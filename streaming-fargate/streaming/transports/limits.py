"""What one media stream may send: audio no faster than real time, and a bounded number of keypad digits.

A carrier produces caller audio in real time, so more audio than ``max_rate`` times the wall-clock
time of a window is a replay or a flood (a window absorbs a network or event-loop stall of up to
``(max_rate - 1) * window_s`` seconds, whose backlog arrives at once). Keypad digits are kept to
``max_per_turn`` per entry (the digits a caller turn is made of: up to ``#`` or a pause of
``settle_s``, as :mod:`streaming.pipeline.keypad` groups them) and ``max_per_call`` in all.
"""
from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE = 8000  # Twilio media: 8 kHz mu-law, one byte per sample


@dataclass
class AudioRateLimit:
    """Inbound audio per fixed window of wall-clock time."""

    max_rate: float  # seconds of audio per second
    window_s: float
    window_start: float
    bytes_per_second: int = SAMPLE_RATE  # of the audio counted (Twilio's mu-law: one byte per sample)
    _window_bytes: int = 0

    def exceeded(self, audio_bytes: int, now: float) -> bool:
        """Count ``audio_bytes`` arrived at ``now``; True once this window holds more than the rate allows."""
        if now - self.window_start >= self.window_s:
            self.window_start, self._window_bytes = now, 0
        self._window_bytes += audio_bytes
        return self._window_bytes > self.max_rate * self.window_s * self.bytes_per_second


@dataclass
class DtmfLimit:
    """Which keypad digits reach the conversation."""

    settle_s: float
    max_per_turn: int = 32
    max_per_call: int = 512
    kept: int = 0
    _pending: int = 0  # digits of the entry in progress
    _last_at: float = float("-inf")

    def admit(self, digit: str, at: float) -> bool:
        """True when ``digit``, pressed at ``at``, is passed on; False when it is dropped."""
        if self.kept >= self.max_per_call:
            return False
        if at - self._last_at >= self.settle_s:
            self._pending = 0  # the previous entry was sent after its pause
        if digit != "#" and self._pending >= self.max_per_turn:
            return False
        self._pending = 0 if digit == "#" else self._pending + 1
        self.kept += 1
        self._last_at = at
        return True
