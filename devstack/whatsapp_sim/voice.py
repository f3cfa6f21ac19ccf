"""The simulated user's voice: script sentences as PCM16 mono at 48 kHz (what a phone's microphone gives Opus).

The carrier simulator's caller voice (Piper, resampled from 22.05 kHz; ``engine="tone"``, or Piper unavailable,
speaks a speech-like buzz of the sentence's length) at WebRTC's rate. Each sentence is synthesized once per
process.
"""
from __future__ import annotations

from devstack.carrier_sim.caller_voice import CallerVoice
from devstack.web_peer import RATE


class UserVoice(CallerVoice):
    def __init__(self, engine: str = "piper") -> None:
        super().__init__(engine, rate=RATE)
