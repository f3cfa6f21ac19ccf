"""Whisper's log-mel spectrogram in numpy: the input of the Smart Turn end-of-turn model.

Whisper-family encoders (Smart Turn v3 is one) read 80 log-mel bands of 16 kHz audio: 25 ms Hann windows
(400 samples, periodic) every 10 ms (160 samples), centred (the signal is reflect-padded by half a window
each side), power spectrum, a Slaney-scale mel filterbank normalised to constant area per band, ``log10``
floored at 1e-10, the last frame dropped, values clamped to 8 below the maximum and mapped by
``(x + 4) / 4``. Written from that published definition (OpenAI's Whisper paper and code); the test
compares it with faster-whisper's own extractor, which implements the same definition.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = 200.0 * mel / 3.0
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """``(N_FFT // 2 + 1, N_MELS)``: triangles between consecutive mel points, area-normalised (Slaney)."""
    points_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    bins_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    lower, centre, upper = points_hz[:-2], points_hz[1:-1], points_hz[2:]
    rising = (bins_hz[:, None] - lower[None, :]) / (centre - lower)[None, :]
    falling = (upper[None, :] - bins_hz[:, None]) / (upper - centre)[None, :]
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return triangles * (2.0 / (upper - lower))[None, :]


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann


def log_mel(audio: np.ndarray, normalize: bool = True) -> np.ndarray:
    """``(N_MELS, len(audio) // HOP)`` float32 features of mono float audio at 16 kHz.

    ``normalize``: scale the waveform to zero mean and unit variance first (what Smart Turn was trained with).
    """
    signal = np.asarray(audio, dtype=np.float64)
    if normalize:
        signal = (signal - signal.mean()) / np.sqrt(signal.var() + 1e-7)
    padded = np.pad(signal, N_FFT // 2, mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP] * _window()
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (frames, bins)
    mel = np.log10(np.maximum(power @ mel_filters(), 1e-10))[:-1].T  # (mels, frames - 1)
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)
