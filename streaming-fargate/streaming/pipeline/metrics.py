"""Per-turn latency metrics, all measured from the caller's end of speech (milliseconds)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TurnMetrics:
    turn: int
    end_of_speech: float  # arrival of the last caller speech audio (monotonic s)
    end_of_turn: float | None = None  # silence timeout reached
    stt_started: float | None = None  # transcription asked for (at the pause when speculative)
    stt_final: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_out: float | None = None  # first agent frame of the reply's content sent to the carrier
    filler_out: float | None = None  # a filler started because the reply was slow (``pipeline.filler``)
    speculative: bool = False
    engine_s: dict[str, float] = field(default_factory=dict)  # compute per stage on the critical path
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # tools the reply called (``pipeline.tool_calls``)
    silence_timeout_ms: int = 0
    end_of_turn_by: str = "silence"  # "semantic": the end-of-turn judge ended it before the silence timeout
    turn_probability: float | None = None  # the end-of-turn model's score at the pause

    def mark(self, name: str, at: float) -> None:
        if getattr(self, name) is None:
            setattr(self, name, at)

    def _ms(self, at: float | None) -> float | None:
        return None if at is None else round(1000 * (at - self.end_of_speech), 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "silence_timeout_ms": self.silence_timeout_ms,
            "speculative": self.speculative,
            "end_of_turn_ms": self._ms(self.end_of_turn),
            "end_of_turn_by": self.end_of_turn_by,
            "turn_probability": None if self.turn_probability is None else round(self.turn_probability, 3),
            "stt_started_ms": self._ms(self.stt_started),
            "stt_final_ms": self._ms(self.stt_final),
            "llm_first_token_ms": self._ms(self.llm_first_token),
            "tts_first_audio_ms": self._ms(self.tts_first_audio),
            "first_audio_out_ms": self._ms(self.first_audio_out),
            "filler_out_ms": self._ms(self.filler_out),
            "engine_ms": {name: round(1000 * value, 1) for name, value in self.engine_s.items()},
            "tool_calls": [dict(call) for call in self.tool_calls],
        }
