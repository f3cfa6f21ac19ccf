"""Fillers: a short "One moment." when the agent's reply is slow (the agent's ``filler``: ``after_sec``).

When the caller's turn ends, a timer starts. If, ``after_sec`` later, the reply has no audio to play yet
and nothing else is playing, a filler phrase goes in front of the reply's phrases and plays at once; the
reply follows it without a gap as soon as its audio exists. The filler phrases are synthesized once per
call, while the welcome message plays, so saying one costs no TTS time.

The filler is part of the agent's turn as the caller heard it (transcript, captions); the turn's metrics
record when it started (``filler_out_ms``), and ``first_audio_out_ms`` stays the first audio of the reply's
content, the figure latency targets are set on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from itertools import cycle

from streaming.audio import resample
from streaming.engines.base import TtsEngine
from streaming.pipeline.output import AgentOutput, Phrase, frame_bytes
from streaming.pipeline.replies import AgentReply

log = logging.getLogger("parley.streaming.session")
PHRASES = ("One moment.", "Let me see.", "Just a second.")


async def synthesize_for_call(tts: TtsEngine, text: str, voice_id: str | None, speed: float, rate: int) -> bytes:
    """``text`` spoken once, as PCM16 at the call's ``rate`` (a filler is synthesized once and said many times)."""
    chunks = [chunk async for chunk in tts.synthesize(text, voice_id, speed)]
    return resample(b"".join(chunks), tts.sample_rate, rate)


def ready_phrase(name: str, text: str, pcm: bytes, rate: int) -> Phrase:
    """A complete filler phrase from pre-synthesized audio (PCM16 at ``rate``)."""
    phrase = Phrase(name=name, text=text, frame_size=frame_bytes(rate), filler=True)
    phrase.add_pcm(pcm)
    phrase.finish()
    return phrase


class Fillers:
    def __init__(self, after_s: float, tts: TtsEngine, voice_id: str | None, speed: float, rate: int,
                 output: AgentOutput) -> None:
        self.after_s = after_s
        self.tts = tts
        self.voice_id = voice_id
        self.speed = speed
        self.rate = rate
        self.output = output
        self._ready: list[tuple[str, bytes]] = []
        self._next = cycle(range(len(PHRASES)))
        self.said = 0

    async def prepare(self) -> None:
        """Synthesize the filler phrases (PCM16 at the call's rate)."""
        for text in PHRASES:
            self._ready.append((text, await synthesize_for_call(self.tts, text, self.voice_id, self.speed, self.rate)))

    async def watch(self, reply: AgentReply) -> None:
        """Wait ``after_s`` from the end of the caller's turn; then say a filler if the reply is still silent."""
        ends_at = reply.metrics.end_of_turn if reply.metrics.end_of_turn is not None else time.monotonic()
        await asyncio.sleep(max(0.0, ends_at + self.after_s - time.monotonic()))
        utterance = reply.utterance
        if (utterance.cancelled or utterance.started or not self._ready or not utterance.released.is_set()
                or any(phrase.frames for phrase in utterance.phrases)
                or self.output.current not in (None, utterance)):
            return
        text, pcm = self._ready[next(self._next)]
        utterance.phrases.insert(0, ready_phrase(f"u{utterance.uid}f{self.said + 1}", text, pcm, self.rate))
        utterance.changed()
        self.said += 1
        reply.metrics.mark("filler_out", time.monotonic())
        log.info("filler said", extra={"turn": reply.metrics.turn})
