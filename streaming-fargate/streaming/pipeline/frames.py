"""Typed turn frames: what the turn detector tells the session about the caller.

Carrier messages are typed by their transport (``transports.twilio``: media, dtmf, mark, stop);
agent output travels as :class:`~streaming.pipeline.output.Utterance` objects. The turn detector
turns caller audio into :class:`SpeechStarted`, :class:`SpeechPaused`, :class:`SpeechResumed` and
:class:`EndOfTurn`. Times are ``time.monotonic()`` seconds.
"""
from __future__ import annotations

from dataclasses import dataclass


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
    """The caller's turn is over: silence reached the timeout (``by="silence"``) or, after a short pause,
    the end-of-turn judge found the turn complete (``by="semantic"``)."""

    last_speech_at: float
    at: float
    by: str = "silence"


TurnFrame = SpeechStarted | SpeechPaused | SpeechResumed | EndOfTurn
