"""The simulated user's voice: script sentences as PCM16 mono at 48 kHz (what a phone's microphone gives Opus).

Piper (``streaming.engines.piper_tts``, the same voice the carrier simulator's callers use), resampled from
22.05 kHz; ``engine="tone"`` (or Piper unavailable) speaks a speech-like buzz of the sentence's length.
Each sentence is synthesized once per process.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from devstack.carrier_sim.caller_voice import tone_speech
from devstack.web_peer import RATE

log = logging.getLogger("parley.whatsapp_sim.voice")


class UserVoice:
    def __init__(self, engine: str = "piper") -> None:
        self.engine = engine
        self._cache: dict[str, asyncio.Future[bytes]] = {}
        self._tts: asyncio.Future[Any] | None = None

    async def phrase(self, text: str) -> bytes:
        future = self._cache.get(text)
        if future is None:
            future = self._cache[text] = asyncio.ensure_future(self._synthesize(text))
        return await asyncio.shield(future)

    async def _synthesize(self, text: str) -> bytes:
        if self.engine == "piper":
            try:
                from streaming.audio import resample
                from streaming.engines.piper_tts import PiperTts

                if self._tts is None:  # loading the voice blocks: not on the loop thread
                    self._tts = asyncio.ensure_future(asyncio.to_thread(PiperTts))
                tts = await asyncio.shield(self._tts)
                chunks = [chunk async for chunk in tts.synthesize(text)]
                return resample(b"".join(chunks), tts.sample_rate, RATE)
            except ImportError as exc:
                log.warning("piper unavailable (%s): the simulated user speaks in tones", exc)
                self.engine = "tone"
        return tone_speech(text, RATE)
