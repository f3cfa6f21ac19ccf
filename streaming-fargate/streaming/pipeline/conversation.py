"""The transcript: caller and agent turns with timestamps, agent turns cut to what the caller heard."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from streaming.engines.base import ChatMessage, Role


@dataclass
class Turn:
    role: str  # "user" | "agent"
    text: str
    started_at: float  # seconds since the call started
    ended_at: float | None = None
    interrupted: bool = False
    generated: str | None = None  # an interrupted agent turn: everything the LLM had said
    source: str = "speech"  # "speech" | "dtmf" | "welcome"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "text": self.text, "start_s": round(self.started_at, 3),
                                "end_s": None if self.ended_at is None else round(self.ended_at, 3)}
        if self.interrupted:
            data.update(interrupted=True, generated=self.generated)
        if self.source != "speech":
            data["source"] = self.source
        return data


@dataclass
class Conversation:
    t0: float = field(default_factory=time.monotonic)
    turns: list[Turn] = field(default_factory=list)

    def offset(self, at: float) -> float:
        return max(0.0, at - self.t0)

    def add_user(self, text: str, started_at: float, ended_at: float, source: str = "speech") -> Turn:
        """A caller turn. Words that follow the caller's previous turn with nothing of the agent heard between
        (its turn ended in a pause, and they went on before the reply played) extend that turn: one turn,
        as the caller said it."""
        last = self.turns[-1] if self.turns else None
        if last is not None and last.role == "user" and last.source == source == "speech":
            last.text = f"{last.text} {text}".strip()
            last.ended_at = self.offset(ended_at)
            return last
        turn = Turn("user", text, self.offset(started_at), self.offset(ended_at), source=source)
        self.turns.append(turn)
        return turn

    def add_agent(self, text: str, started_at: float, ended_at: float, *, interrupted: bool = False,
                  generated: str | None = None, source: str = "speech") -> Turn | None:
        if not text and not interrupted:
            return None
        turn = Turn("agent", text, self.offset(started_at), self.offset(ended_at), interrupted=interrupted,
                    generated=generated, source=source)
        self.turns.append(turn)
        return turn

    def history(self) -> list[ChatMessage]:
        """The conversation as the LLM should see it: only what was said and heard."""
        messages: list[ChatMessage] = []
        for turn in self.turns:
            if not turn.text:
                continue
            role: Role = "user" if turn.role == "user" else "assistant"
            if messages and messages[-1].role == role:
                messages[-1] = ChatMessage(role, f"{messages[-1].content} {turn.text}")
            else:
                messages.append(ChatMessage(role, turn.text))
        return messages

    def to_json(self) -> list[dict[str, Any]]:
        return [turn.to_json() for turn in self.turns]


def heard_part(text: str, fraction: float) -> str:
    """The words of a phrase the caller heard when ``fraction`` of its audio was played."""
    words = text.split()
    count = max(0, min(len(words), int(len(words) * fraction + 0.5)))
    return " ".join(words[:count])
