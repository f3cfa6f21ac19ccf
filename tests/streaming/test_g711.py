"""G.711 mu-law: the C codec the service uses where Python has it, and the numpy tables it falls back to."""
from __future__ import annotations

import numpy as np
import pytest

from streaming import audio

EVERY_SAMPLE = np.arange(-32768, 32768, dtype="<i2").tobytes()
EVERY_CODE = bytes(range(256))


def test_the_numpy_fallback_decodes_every_code_as_the_c_codec_does() -> None:
    if audio._G711 is None:
        pytest.skip("this Python has no audioop: the numpy tables are the only codec")
    assert audio._numpy_mulaw_to_pcm16(EVERY_CODE) == audio._G711.ulaw2lin(EVERY_CODE, 2)


def test_both_encoders_agree_but_on_segment_boundaries_and_lose_the_same() -> None:
    ours = np.frombuffer(audio._numpy_pcm16_to_mulaw(EVERY_SAMPLE), np.uint8)
    used = np.frombuffer(audio.pcm16_to_mulaw(EVERY_SAMPLE), np.uint8)
    assert np.count_nonzero(ours != used) <= 400  # samples exactly between two levels, rounded either way
    samples = np.frombuffer(EVERY_SAMPLE, "<i2").astype(int)
    for codes in (ours, used):
        decoded = np.frombuffer(audio.mulaw_to_pcm16(codes.tobytes()), "<i2").astype(int)
        assert np.abs(decoded - samples).max() <= 1024  # half the widest step


def test_decoding_then_encoding_gives_back_every_code_but_the_second_zero() -> None:
    again = audio.pcm16_to_mulaw(audio.mulaw_to_pcm16(EVERY_CODE))
    assert [code for code in range(256) if again[code] != code] == [0x7F]  # -0 is coded as +0 (0xFF)
