"""Semantic end of turn with Smart Turn v3.2: does the caller's audio sound like a finished turn?

The model (``smart-turn-v3.2-cpu.onnx``, 8.7 MB, BSD-2-Clause, by Daily) reads the last 8 s of the caller's
turn as Whisper log-mel features (:mod:`~streaming.engines.log_mel`; shorter audio is left-padded with
silence) and returns the probability that the speaker has finished: intonation and wording, not silence
length. It ships inside the ``pipecat-ai`` 1.14.0 wheel; the project installs that wheel without its
dependencies (``streaming-fargate/requirements-nodeps.txt``) and only reads the file, checked against the
sha256 pinned here. Nothing of pipecat is imported.

One ONNX session on one intra-op thread (~25-35 ms per check on this machine's cores), in a child process
(see :class:`SmartTurn`) so checks never block the event loop and never take both cores from the LLM.
A verdict is only useful within ~100 ms, so checks never queue up: with ``max_pending`` already waiting or
running, a new one is refused at once (:class:`TurnModelBusy`) and that pause is left to the silence timeout.
At hundreds of calls per task this bounds the model to one core instead of letting every verdict arrive late.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import importlib.util
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EngineError
from .log_mel import SAMPLE_RATE, log_mel

MODEL_FILE = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"  # inside the ``pipecat`` package directory
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
WINDOW_S = 8  # the model's input: the last 8 s of the turn


def bundled_model_path() -> Path:
    """The model file inside the installed ``pipecat-ai`` wheel, found without importing pipecat."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("pipecat-ai (the Smart Turn model's wheel) is not installed; "
                          "run `make` or pip install --no-deps -r streaming-fargate/requirements-nodeps.txt",
                          engine="smart-turn-v3", code="ModelMissing", retryable=False)
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def verified(path: Path, sha256: str = MODEL_SHA256) -> Path:
    """``path`` if its content has the pinned checksum; otherwise a clear error (never a surprise model)."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise EngineError(f"Smart Turn model {path} cannot be read: {error}", engine="smart-turn-v3",
                          code="ModelMissing", retryable=False) from error
    if digest != sha256:
        raise EngineError(f"Smart Turn model {path} has sha256 {digest}, expected {sha256}: refusing it",
                          engine="smart-turn-v3", code="ModelChecksum", retryable=False)
    return path


def features(pcm16: bytes) -> np.ndarray:
    """``(1, 80, 800)``: the last ``WINDOW_S`` of 16 kHz PCM16 audio, left-padded with silence, as log-mel."""
    window = SAMPLE_RATE * WINDOW_S
    samples = np.frombuffer(pcm16[-2 * window:], dtype=np.int16).astype(np.float32) / 32768.0
    if len(samples) < window:
        samples = np.concatenate([np.zeros(window - len(samples), dtype=np.float32), samples])
    return log_mel(samples, normalize=True)[None, :, :]


class TurnModelBusy(EngineError):
    """Too many checks in flight: this pause is not judged (the silence timeout ends the turn)."""

    def __init__(self) -> None:
        super().__init__("end-of-turn model busy; pause left to the silence timeout", engine="smart-turn-v3",
                         code="Busy", retryable=True)


def _session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _score(session: Any, pcm16: bytes) -> float:
    (output,) = session.run(None, {"input_features": features(pcm16)})
    return float(np.asarray(output).reshape(-1)[0])


class _Worker:
    """The model inside the scoring process (one per engine; it lives as long as that process)."""

    session: Any = None

    @classmethod
    def load(cls, path: str, threads: int) -> None:
        os.nice(10)  # best effort: when the cores are short, the calls' audio frames go first, verdicts wait
        cls.session = _session(path, threads)

    @classmethod
    def score(cls, pcm16: bytes) -> float:
        return _score(cls.session, pcm16)


class SmartTurn:
    """:class:`~streaming.engines.base.TurnEndEngine` on Smart Turn v3.2 (ONNX Runtime, CPU).

    ``in_process=False`` (the service's way) scores in a child process: the features' FFT holds the GIL for
    several milliseconds per check, which in the service's process would delay the event loop's 20 ms audio
    frames for every call (at 200 streams: caller jitter p99 39 ms with in-process checks, 12 ms without the
    model). ``in_process=True`` scores on a worker thread (tests, tools).
    """

    name = "smart-turn-v3"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, sha256: str = MODEL_SHA256, threads: int = 1,
                 max_pending: int = 2, in_process: bool = False) -> None:
        path = str(verified(model_path or bundled_model_path(), sha256))
        self._executor: concurrent.futures.Executor
        if in_process:
            session = _session(path, threads)
            self._score: Callable[[bytes], float] = lambda pcm16: _score(session, pcm16)
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-turn")
        else:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_Worker.load,
                initargs=(path, threads))
            self._score = _Worker.score
        self.max_pending = max_pending
        self.pending = 0  # checks submitted and not finished (event loop side)
        self.refused = 0  # checks refused as busy since start
        self._executor.submit(self._score, bytes(2 * SAMPLE_RATE)).result()  # warm up (and start the process)

    async def complete_probability(self, pcm16: bytes) -> float:
        """Probability (0..1) that the turn whose audio (16 kHz PCM16, its end = now) is ``pcm16`` is over."""
        if self.pending >= self.max_pending:
            self.refused += 1
            raise TurnModelBusy()
        self.pending += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(self._score, pcm16))
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
