"""Typed frames: what the pipeline's stages tell each other.

Inbound: the transport turns carrier messages into :class:`CallerAudio`, :class:`Dtmf`,
:class:`MarkPlayed` and :class:`StreamStopped`. The turn detector turns caller audio into
:class:`SpeechStarted`, :class:`SpeechPaused`, :class:`SpeechResumed` and :class:`EndOfTurn`.
Times are ``time.monotonic()`` seconds unless named otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallerAudio:
    """One carrier frame of caller audio, decoded to PCM16 at 8 kHz."""

    pcm16: bytes
    at: float


@dataclass(frozen=True)
class Dtmf:
    digit: str
    at: float


@dataclass(frozen=True)
class MarkPlayed:
    """The carrier reports that playback reached a mark we sent (or dropped it on ``clear``)."""

    name: str
    at: float


@dataclass(frozen=True)
class StreamStopped:
    reason: str
    at: float


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started talking. ``first_speech_at``: arrival of the first speech chunk."""

    first_speech_at: float
    at: float


@dataclass(frozen=True)
class SpeechPaused:
    """The caller has been silent for the pause threshold: a turn end is likely (speculate)."""

    last_speech_at: float
    at: float


@dataclass(frozen=True)
class SpeechResumed:
    """The caller spoke again before the silence timeout: the turn goes on."""

    at: float


@dataclass(frozen=True)
class EndOfTurn:
    """Silence reached the agent's silence timeout: the caller's turn is over."""

    last_speech_at: float
    at: float


TurnFrame = SpeechStarted | SpeechPaused | SpeechResumed | EndOfTurn
