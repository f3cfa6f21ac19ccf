"""Turn detection: VAD probabilities -> speech start, pause, resume and end of turn.

Counts time in audio (chunks), not wall clock, so it is deterministic for a given input. The
agent's ``transcriber.silence_timeout_ms`` is the endpointing silence; a shorter ``pause`` lets the
pipeline transcribe and draft a reply speculatively while it waits out the rest of the silence.

With a semantic end-of-turn judge (:mod:`~streaming.pipeline.end_of_turn`), the session may end the turn at
the pause (:meth:`TurnDetector.end_now`) or make the detector wait longer for a turn that sounds unfinished
(:meth:`TurnDetector.wait_longer`); the detector keeps the turn's last seconds of audio for that judge.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from chalicelib.domain.agent_settings import DEFAULT_SILENCE_TIMEOUT_MS
from streaming.audio import resample
from streaming.engines.base import VadStream
from streaming.pipeline.frames import (
    EndOfTurn,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnFrame,
)


@dataclass(frozen=True)
class TurnConfig:
    silence_timeout_ms: int = DEFAULT_SILENCE_TIMEOUT_MS
    pause_ms: int = 96  # speculative turn end: transcribe and draft the reply (never above the silence timeout)
    start_ms: int = 64  # speech needed to declare the caller is talking
    threshold: float = 0.5
    release_threshold: float = 0.5  # below this a chunk counts as silence (lower = longer speech tails)
    preroll_ms: int = 320  # audio kept from before speech was declared, handed to STT
    judged_ms: int = 8000  # the turn's last audio kept for the end-of-turn judge (Smart Turn reads 8 s)


class TurnDetector:
    """Feeds caller audio (PCM16 at ``input_rate``) to a VAD in its chunk size; returns turn frames as they happen.

    Audio is resampled once per VAD chunk (32 ms for Silero), not per 20 ms transport frame:
    this is the hottest path of the service (every caller, 50 frames a second).
    """

    def __init__(self, vad: VadStream, config: TurnConfig, input_rate: int = 8000) -> None:
        self.vad = vad
        self.config = config
        self.input_rate = input_rate
        self.chunk_ms = 1000 * vad.chunk_samples / vad.sample_rate
        self._chunk_bytes = 2 * (vad.chunk_samples * input_rate // vad.sample_rate)
        self._pending = bytearray()
        self._preroll: deque[bytes] = deque(maxlen=max(1, int(config.preroll_ms / self.chunk_ms)))
        self._speech_run = 0
        self._speech_run_started_at = 0.0
        self._silence_ms = 0.0
        self.speaking = False  # inside a caller turn (from start to end of turn)
        self.paused = False
        self.last_speech_at = 0.0
        self._utterance: list[bytes] = []
        self._turn_audio: deque[bytes] = deque(maxlen=max(1, int(config.judged_ms / self.chunk_ms)))
        self._required_silence_ms = float(config.silence_timeout_ms)

    def push(self, pcm16: bytes, at: float) -> list[TurnFrame]:
        """Take one transport frame (PCM16 at ``input_rate``); return the turn frames it caused."""
        pending = self._pending
        pending += pcm16
        size = self._chunk_bytes
        if len(pending) < size:
            return []
        frames: list[TurnFrame] = []
        while len(pending) >= size:
            chunk = resample(bytes(pending[:size]), self.input_rate, self.vad.sample_rate)
            del pending[:size]
            frame = self._chunk(chunk, at)
            if frame is not None:
                frames.append(frame)
        return frames

    def take_audio(self) -> bytes:
        """The utterance audio (at the VAD rate) collected since the last call, preroll included."""
        audio = b"".join(self._utterance)
        self._utterance.clear()
        return audio

    def turn_audio(self) -> bytes:
        """The current turn's last ``judged_ms`` of audio (at the VAD rate, preroll included), up to now."""
        return b"".join(self._turn_audio)

    def end_now(self, at: float) -> list[TurnFrame]:
        """The judge found the paused turn complete: end it now (nothing if the caller spoke again)."""
        if not (self.speaking and self.paused):
            return []
        self.speaking = self.paused = False
        self._silence_ms = 0.0
        return [EndOfTurn(last_speech_at=self.last_speech_at, at=at, by="semantic")]

    def wait_longer(self, silence_ms: int) -> None:
        """The judge found the paused turn unfinished: it ends after ``silence_ms`` of silence (not less than
        the timeout), unless the caller goes on first."""
        if self.speaking and self.paused:
            self._required_silence_ms = max(self._required_silence_ms, float(silence_ms))

    def _chunk(self, chunk: bytes, at: float) -> TurnFrame | None:
        probability = self.vad.speech_probability(chunk)
        cfg = self.config
        is_speech = probability >= (cfg.release_threshold if self.speaking and self._silence_ms == 0 else cfg.threshold)
        if not self.speaking:
            self._preroll.append(chunk)
            if is_speech:
                if self._speech_run == 0:
                    self._speech_run_started_at = at
                self._speech_run += 1
            else:
                self._speech_run = 0
            if self._speech_run * self.chunk_ms >= cfg.start_ms:
                self.speaking, self.paused, self._silence_ms = True, False, 0.0
                self._speech_run = 0
                self.last_speech_at = at
                self._utterance.extend(self._preroll)
                self._turn_audio.clear()
                self._turn_audio.extend(self._preroll)
                self._required_silence_ms = float(cfg.silence_timeout_ms)
                self._preroll.clear()
                return SpeechStarted(first_speech_at=self._speech_run_started_at, at=at)
            return None
        self._utterance.append(chunk)
        self._turn_audio.append(chunk)
        if is_speech:
            self.last_speech_at = at
            self._silence_ms = 0.0
            if self.paused:
                self.paused = False
                self._required_silence_ms = float(cfg.silence_timeout_ms)
                return SpeechResumed(at=at)
            return None
        self._silence_ms += self.chunk_ms
        if self._silence_ms >= self._required_silence_ms:
            self.speaking = self.paused = False
            self._silence_ms = 0.0
            return EndOfTurn(last_speech_at=self.last_speech_at, at=at)
        if not self.paused and self._silence_ms >= min(cfg.pause_ms, cfg.silence_timeout_ms):
            self.paused = True
            return SpeechPaused(last_speech_at=self.last_speech_at, at=at)
        return None
