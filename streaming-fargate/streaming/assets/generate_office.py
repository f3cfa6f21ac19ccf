"""Makes ``office.wav``, the "office" background track, from a fixed seed: no recorded or copyrighted audio.

Run ``python -m streaming.assets.generate_office`` to write it again; the same numpy gives the same bytes (a
test checks the committed file against this script). The track is 8 s of 16 kHz mono PCM16 built to loop:
every part is periodic over the track's length (noise shaped in the frequency domain of the whole loop,
envelopes with a whole number of cycles, clicks placed around the loop), so its end joins its start without
a seam. What it is made of:

- room tone: brown-ish noise under 300 Hz (ventilation, the building);
- murmur: noise shaped like the long-term spectrum of speech (a broad hump around 500 Hz, falling ~6 dB per
  octave above), its loudness swaying at syllable rates (2-6 Hz) with slower swells, as distant talkers do;
- a few soft keyboard clicks (short decaying bursts of high-passed noise).

Loudness: about -20 dBFS RMS, peaks well under full scale; the agent's ``volume`` (0.2 by default) is the
linear gain applied on top.
"""
from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

SEED = 20261207
RATE = 16000
SECONDS = 8
TARGET_RMS_DBFS = -20.0
PATH = Path(__file__).with_name("office.wav")


def _shaped_noise(rng: np.random.Generator, n: int, gain: np.ndarray) -> np.ndarray:
    """Periodic noise of ``n`` samples whose amplitude spectrum is ``gain`` (one value per rfft bin)."""
    phases = rng.uniform(0, 2 * np.pi, len(gain))
    magnitudes = gain * rng.rayleigh(1.0, len(gain))
    spectrum = magnitudes * np.exp(1j * phases)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise ** 2))


def _periodic_envelope(rng: np.random.Generator, n: int, cycles: range, count: int) -> np.ndarray:
    """A positive envelope made of ``count`` sinusoids with a whole number of cycles over the loop."""
    t = np.arange(n) / n
    env = np.zeros(n)
    for k in rng.choice(np.array(cycles), size=count, replace=False):
        env += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * int(k) * t + rng.uniform(0, 2 * np.pi))
    return env / np.max(np.abs(env))


def office(seed: int = SEED) -> np.ndarray:
    """The track as int16 samples at :data:`RATE`."""
    rng = np.random.default_rng(seed)
    n = RATE * SECONDS
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    f = np.maximum(freqs, 1.0)

    room_gain = 1.0 / (1.0 + (f / 60.0)) * (f > 25) / (1.0 + (f / 300.0) ** 4)
    room = _shaped_noise(rng, n, room_gain)

    speech_gain = (f / 500.0) / (1.0 + (f / 500.0) ** 2) * (f > 120) / (1.0 + (f / 3400.0) ** 6)
    murmur = np.zeros(n)
    for _talker in range(4):  # a few distant talkers, each swaying at its own syllable rate
        voice = _shaped_noise(rng, n, speech_gain)
        syllables = _periodic_envelope(rng, n, range(2 * SECONDS, 6 * SECONDS), 6)
        swells = _periodic_envelope(rng, n, range(1, SECONDS // 2), 2)
        loudness = np.clip(0.55 + 0.35 * syllables, 0.0, None) * (0.6 + 0.4 * swells)
        murmur += voice * loudness
    murmur /= np.sqrt(np.mean(murmur ** 2))

    clicks = np.zeros(n)
    burst = _shaped_noise(rng, 256, (np.fft.rfftfreq(256, 1 / RATE) > 1500).astype(float))
    burst *= np.exp(-np.arange(256) / 40.0)
    for start in rng.integers(0, n, 14):
        idx = (start + np.arange(256)) % n  # wrapped around the loop: no seam
        clicks[idx] += burst * rng.uniform(0.3, 1.0)

    track = 0.35 * room + 1.0 * murmur + 0.25 * clicks
    target = 32768 * 10 ** (TARGET_RMS_DBFS / 20)
    track *= target / np.sqrt(np.mean(track ** 2))
    return np.clip(np.round(track), -32768, 32767).astype("<i2")


def wav_bytes(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def main() -> None:
    PATH.write_bytes(wav_bytes(office()))
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
