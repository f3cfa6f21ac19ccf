"""Streaming speech recognition with PocketSphinx 5 and its bundled US English model.

Costs measured here (2 cores; ``tests/bench/engines.py``): a ``Decoder`` takes ~0.4-0.6 s and ~96 MB to
create (acoustic model + language model + dictionary, not shareable between decoders through the
Python API), and decoding costs a few milliseconds per 20 ms of audio, holding the GIL while it runs.
So:

- decoders are pooled: a call borrows one for its lifetime and gives it back on ``close()`` (its
  cepstral mean is reset so one caller's channel does not bias the next); ``max_decoders`` bounds the
  memory, and a call that finds the pool exhausted waits for a decoder to come back;
- decoding never runs on the event loop: fed audio is queued and drained in a worker thread, in
  blocks of whatever has accumulated (fewer, larger ``process_raw`` calls under load).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

SAMPLE_RATE = 16000


class _DecoderPool:
    """Thread-safe pool of PocketSphinx decoders, created on demand up to ``limit``."""

    def __init__(self, limit: int) -> None:
        from pocketsphinx import Decoder

        self._decoder_class = Decoder
        self._free: list[Any] = []
        self._created = 0
        self._limit = limit
        self._available = threading.Condition()
        self.initial_cmn = ""

    def new_decoder(self) -> Any:
        decoder = self._decoder_class(samprate=SAMPLE_RATE, loglevel="FATAL")
        if not self.initial_cmn:
            self.initial_cmn = decoder.get_cmn(False)
        return decoder

    def acquire(self, timeout: float | None = None) -> Any:
        """A free decoder (blocking: may build one, ~0.5 s, or wait for one to be released)."""
        with self._available:
            while not self._free and self._created >= self._limit:
                if not self._available.wait(timeout):
                    raise TimeoutError("no PocketSphinx decoder free")
            if self._free:
                return self._free.pop()
            self._created += 1
        try:
            return self.new_decoder()
        except BaseException:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise

    def release(self, decoder: Any) -> None:
        try:
            decoder.set_cmn(self.initial_cmn)
        except (RuntimeError, ValueError):  # pragma: no cover - defensive: a decoder we cannot reset is dropped
            with self._available:
                self._created -= 1
                self._available.notify()
            return
        with self._available:
            self._free.append(decoder)
            self._available.notify()

    def prime(self, count: int) -> None:
        for _ in range(count):
            self.release(self.acquire())


class SphinxSttStream:
    """One caller's audio decoded as it arrives; ``transcript()`` ends the current utterance.

    Audio fed after a ``transcript()`` starts a new utterance; the next ``transcript()`` returns the
    text of everything fed since the stream opened (earlier finals joined with the new one).
    """

    def __init__(self, engine: SphinxStt) -> None:
        self._engine = engine
        self._pending = bytearray()
        self._lock = threading.Lock()
        self._drain: concurrent.futures.Future[None] | None = None
        self._decoder: Any = None
        self._in_utterance = False
        self._finals: list[str] = []
        self._closed = False
        self.decode_seconds = 0.0  # worker time spent decoding so far (metrics)

    def feed(self, pcm16: bytes) -> None:
        if self._closed or not pcm16:
            return
        with self._lock:
            self._pending += pcm16
            if self._drain is None or self._drain.done():
                self._drain = self._engine.executor.submit(self._drain_pending)

    def _drain_pending(self) -> None:
        """Worker: decode whatever audio is queued, until nothing is left."""
        if self._decoder is None:
            self._decoder = self._engine.pool.acquire(self._engine.acquire_timeout_s)
        while True:
            with self._lock:
                block = bytes(self._pending)
                self._pending.clear()
            if not block:
                return
            started = time.perf_counter()
            if not self._in_utterance:
                self._decoder.start_utt()
                self._in_utterance = True
            self._decoder.process_raw(block, False, False)
            self.decode_seconds += time.perf_counter() - started

    def _finish_utterance(self) -> str:
        """Worker: flush queued audio, end the utterance, return every final so far."""
        self._drain_pending()
        if self._in_utterance:
            started = time.perf_counter()
            self._decoder.end_utt()
            self._in_utterance = False
            hypothesis = self._decoder.hyp()
            self.decode_seconds += time.perf_counter() - started
            text = hypothesis.hypstr.strip() if hypothesis is not None else ""
            if text:
                self._finals.append(text)
        return " ".join(self._finals)

    async def _run_serially(self, function: Any) -> Any:
        """Run ``function`` in the worker after any drain already queued (one worker task at a time)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            previous = self._drain
            job = self._engine.executor.submit(_after, previous, function)
            self._drain = job
        return await asyncio.wrap_future(job, loop=loop)

    async def transcript(self) -> str:
        if self._closed:
            return " ".join(self._finals)
        return await self._run_serially(self._finish_utterance)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._run_serially(self._release)

    def _release(self) -> None:
        if self._decoder is None:
            return
        if self._in_utterance:
            self._decoder.end_utt()
            self._in_utterance = False
        decoder, self._decoder = self._decoder, None
        self._engine.pool.release(decoder)


def _after(previous: concurrent.futures.Future[Any] | None, function: Any) -> Any:
    """Wait for ``previous`` (ignoring its outcome: its error surfaces to its own waiter) then run."""
    if previous is not None:
        concurrent.futures.wait([previous])
    return function()


class SphinxStt:
    """SttEngine on PocketSphinx (bundled en-us acoustic model, language model and dictionary)."""

    name = "pocketsphinx"
    sample_rate = SAMPLE_RATE
    streaming = True

    def __init__(self, max_decoders: int = 8, preload_decoders: int = 1, workers: int = 2,
                 acquire_timeout_s: float = 30.0) -> None:
        self.pool = _DecoderPool(max_decoders)
        self.pool.prime(preload_decoders)
        self.acquire_timeout_s = acquire_timeout_s
        # Decoding holds the GIL, so more workers than cores buys nothing.
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="sphinx")

    def open(self, language: str = "en-US") -> SphinxSttStream:
        return SphinxSttStream(self)
