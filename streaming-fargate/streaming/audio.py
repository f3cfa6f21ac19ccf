"""Audio conversions on 16-bit little-endian mono PCM: G.711 mu-law and sample-rate conversion.

G.711 with the standard library's C ``audioop`` where it exists (Python <= 3.12, or the ``audioop-lts``
package), numpy lookup tables otherwise; resampling in numpy.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

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
    """Indexed by a sample's 16 bits read as unsigned (0..32767 positive, 32768..65535 negative)."""
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), MULAW_CLIP) + MULAW_BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    by_sample = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return np.roll(by_sample, 32768)  # by_sample[i] encodes i - 32768; the roll puts it at its unsigned bits


def _numpy_mulaw_to_pcm16(data: bytes) -> bytes:
    return _mulaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].tobytes()


def _numpy_pcm16_to_mulaw(data: bytes) -> bytes:
    return _mulaw_encode_table()[np.frombuffer(data, dtype="<u2")].tobytes()


def mulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 mu-law bytes -> PCM16 (same sample count)."""
    return _G711.ulaw2lin(data, 2) if _G711 is not None else _numpy_mulaw_to_pcm16(data)


def pcm16_to_mulaw(data: bytes) -> bytes:
    """PCM16 -> G.711 mu-law bytes."""
    return _G711.lin2ulaw(data, 2) if _G711 is not None else _numpy_pcm16_to_mulaw(data)


def _c_g711() -> Any:
    """The standard library's C G.711 (``audioop``, Python <= 3.12; the ``audioop-lts`` package provides it on
    3.13+), else None: the numpy tables above. Every Twilio frame is converted once each way, so this is the
    service's hottest call: ~0.3 us (decode) and ~1.5 us (encode) a 20 ms frame in C, 3-6 us with numpy.
    Both give the same PCM16 on decode; on encode they differ only in how they round samples that sit
    exactly on a segment boundary (381 of 65,536 values, by one step), with the same error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


_G711 = _c_g711()


def resample(data: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16. Downsampling low-passes first (windowed sinc) so speech stays intelligible."""
    if from_rate == to_rate or not data:
        return data
    if to_rate == 2 * from_rate:
        return _upsample_2x(data)
    samples = np.frombuffer(data, dtype=np.int16).astype(np.float32)
    if from_rate == 2 * to_rate:
        return np.clip(np.round(_decimate_2x(samples)), -32768, 32767).astype(np.int16).tobytes()
    if to_rate < from_rate:
        samples = _filter(samples, _lowpass(from_rate, to_rate))
        if from_rate % to_rate == 0:  # e.g. 16 -> 8 kHz: keep every n-th filtered sample
            out = samples[:: from_rate // to_rate]
            return np.clip(np.round(out), -32768, 32767).astype(np.int16).tobytes()
    count = max(1, int(round(len(samples) * to_rate / from_rate)))
    positions = np.arange(count, dtype=np.float64) * (from_rate / to_rate)
    interpolated = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(np.round(interpolated), -32768, 32767).astype(np.int16).tobytes()


def _filter(samples: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(samples, kernel, "same")`` via the FFT (several times faster for TTS-sized chunks)."""
    n = len(samples) + len(kernel) - 1
    size = 1 << (n - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(kernel, size), size)[:n]
    start = (len(kernel) - 1) // 2
    return full[start:start + len(samples)]


@lru_cache(maxsize=1)
def _halfband(taps: int = 31) -> tuple[tuple[int, float], ...]:
    """Half-band low-pass (cut-off at a quarter of the input rate): every even tap but the centre is 0."""
    n = np.arange(taps) - (taps - 1) // 2
    kernel = 0.5 * np.sinc(0.5 * n) * np.hamming(taps)
    kernel /= kernel.sum()
    centre = (taps - 1) // 2
    return ((0, float(kernel[centre])),) + tuple((int(k), float(kernel[centre + k])) for k in range(1, centre + 1, 2))


def _decimate_2x(samples: np.ndarray) -> np.ndarray:
    """Low-pass and keep every other sample (16 -> 8 kHz), computing only the kept outputs and only the
    non-zero taps: a handful of vector operations per chunk."""
    taps = _halfband()
    reach = taps[-1][0]
    padded = np.pad(samples, (reach, reach))
    count = (len(samples) + 1) // 2
    out = taps[0][1] * padded[reach:reach + 2 * count:2]
    for offset, weight in taps[1:]:
        out += weight * (padded[reach - offset:reach - offset + 2 * count:2]
                         + padded[reach + offset:reach + offset + 2 * count:2])
    return out


def _upsample_2x(data: bytes) -> bytes:
    """Exactly twice the rate (8 -> 16 kHz, every caller frame): linear interpolation, a few microseconds."""
    samples = np.frombuffer(data, dtype=np.int16).astype(np.int32)
    out = np.empty(2 * len(samples), dtype=np.int32)
    out[0::2] = samples
    out[1:-1:2] = (samples[:-1] + samples[1:]) >> 1
    out[-1] = samples[-1]
    return out.astype(np.int16).tobytes()


@lru_cache(maxsize=16)
def _lowpass(from_rate: int, to_rate: int, taps: int = 31) -> np.ndarray:
    cutoff = 0.5 * to_rate / from_rate * 0.9
    n = np.arange(taps) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    return (kernel / kernel.sum()).astype(np.float32)


def rms(data: bytes) -> float:
    """Root mean square level of PCM16 (0..32768)."""
    if not data:
        return 0.0
    samples = np.frombuffer(data, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples)))
