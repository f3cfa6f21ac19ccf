"""Audio conversions on 16-bit little-endian mono PCM: G.711 mu-law and sample-rate conversion.

Pure numpy with lookup tables (``audioop`` is gone from Python 3.13); each conversion of a 20 ms
telephony frame costs a few microseconds.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

MULAW_BIAS = 0x84
MULAW_CLIP = 32635


@lru_cache(maxsize=1)
def _mulaw_decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


@lru_cache(maxsize=1)
def _mulaw_encode_table() -> np.ndarray:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), MULAW_CLIP) + MULAW_BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def mulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 mu-law bytes -> PCM16 (same sample count)."""
    return _mulaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].tobytes()


def pcm16_to_mulaw(data: bytes) -> bytes:
    """PCM16 -> G.711 mu-law bytes."""
    samples = np.frombuffer(data, dtype=np.int16).astype(np.int32) + 32768
    return _mulaw_encode_table()[samples].tobytes()


def resample(data: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16. Downsampling low-passes first (windowed sinc) so speech stays intelligible."""
    if from_rate == to_rate or not data:
        return data
    samples = np.frombuffer(data, dtype=np.int16).astype(np.float32)
    if to_rate < from_rate:
        samples = np.convolve(samples, _lowpass(from_rate, to_rate), mode="same")
    count = max(1, int(round(len(samples) * to_rate / from_rate)))
    positions = np.arange(count, dtype=np.float64) * (from_rate / to_rate)
    out = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16).tobytes()


@lru_cache(maxsize=16)
def _lowpass(from_rate: int, to_rate: int, taps: int = 31) -> np.ndarray:
    cutoff = 0.5 * to_rate / from_rate * 0.9
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    return (kernel / kernel.sum()).astype(np.float32)


def silence(samples: int) -> bytes:
    return b"\x00\x00" * samples


def rms(data: bytes) -> float:
    """Root mean square level of PCM16 (0..32768)."""
    if not data:
        return 0.0
    samples = np.frombuffer(data, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples)))
