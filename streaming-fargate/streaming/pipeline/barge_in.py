"""Barge-in: the caller talks over the agent, playback stops, the agent's turn keeps only what was heard.

:class:`AgentTurns` writes the agent's side of the transcript as the caller heard it (the carrier's
mark echoes say which phrases were played; a phrase cut short keeps the share of its words played).
:class:`BargeIn` stops an audible, interruptible utterance when the caller starts speaking.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from streaming.pipeline.conversation import Conversation, Turn, heard_part
from streaming.pipeline.live_events import LiveEvents
from streaming.pipeline.output import AgentOutput, Utterance


@dataclass
class Interruption:
    """One barge-in: when the caller's speech began and when the carrier was told to ``clear``."""

    first_speech_at: float
    clear_sent_at: float

    @property
    def latency_ms(self) -> float:
        return round(1000 * (self.clear_sent_at - self.first_speech_at), 1)


class AgentTurns:
    """The agent's turns in the conversation, each cut to what the caller heard."""

    def __init__(self, conversation: Conversation, events: LiveEvents | None = None) -> None:
        self.conversation = conversation
        self.events = events or LiveEvents()
        self._last: tuple[Utterance, Turn | None] | None = None

    def finished(self, utterance: Utterance) -> None:
        """The utterance played to its end (its last marks may still be on their way back)."""
        self._last = (utterance, self.record(utterance, interrupted=False))

    def record(self, utterance: Utterance, *, interrupted: bool) -> Turn | None:
        if utterance.first_frame_at is None:
            return None
        text = heard_text(utterance) if interrupted else utterance.generated_text()
        turn = self.conversation.add_agent(
            text, utterance.first_frame_at, utterance.last_frame_at or utterance.first_frame_at,
            interrupted=interrupted, generated=utterance.generated_text() if interrupted else None,
            source=utterance.source)
        self.events.caption("assistant", text, final=True, turn=utterance.uid, interrupted=interrupted,
                            source=utterance.source)
        return turn

    def cut_last_to_heard(self) -> None:
        """The caller spoke while the carrier was still playing the last finished utterance."""
        if self._last is None:
            return
        utterance, turn = self._last
        if turn is not None and not all(p.heard for p in utterance.phrases):
            heard = heard_text(utterance)
            turn.interrupted, turn.generated, turn.text = True, turn.text, heard
            if heard != turn.generated:
                self.events.caption("assistant", heard, final=True, turn=utterance.uid, interrupted=True,
                                    source=utterance.source)


class BargeIn:
    """Stops the agent when the caller speaks over it, if the agent allows interruptions."""

    def __init__(self, output: AgentOutput, agent_turns: AgentTurns, *, allowed: bool) -> None:
        self.output = output
        self.agent_turns = agent_turns
        self.allowed = allowed
        self.interruptions: list[Interruption] = []

    async def interrupt_if_audible(self, first_speech_at: float) -> bool:
        """Clear the carrier's playback if the caller hears the agent now; True when it did."""
        current = self.output.current
        if not self.output.audible or not self.allowed:
            return False
        if current is not None and not current.interruptible:
            return False
        interrupted = await self.output.interrupt()
        self.interruptions.append(Interruption(first_speech_at, time.monotonic()))
        if interrupted is not None:
            self.agent_turns.record(interrupted, interrupted=True)
        else:
            self.agent_turns.cut_last_to_heard()
        return True


def heard_text(utterance: Utterance) -> str:
    """The words of ``utterance`` the caller heard: whole phrases, then part of the one cut short."""
    words: list[str] = []
    for phrase in utterance.phrases:
        if phrase.heard:
            words.append(phrase.text)
            continue
        part = heard_part(phrase.text, phrase.played_fraction)
        if part:
            words.append(part)
        break
    return " ".join(words)
