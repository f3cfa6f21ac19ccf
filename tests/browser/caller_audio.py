"""The caller's voice for Chromium's fake microphone: a sentence said by the project's Piper voice, as a WAV.

Chromium plays the file from the moment the page opens the microphone (``%noloop``: once). The leading
silence covers the agent's welcome message; the trailing silence lets the caller's turn end (the agent
hears a pause) and the microphone stay quiet while the reply is measured.

    python -m tests.browser.caller_audio /tmp/caller.wav "What are your opening hours?"
"""
from __future__ import annotations

import asyncio
import sys
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SAMPLE_RATE = 16000  # Chromium's fake capture accepts any PCM16 mono rate; 16 kHz is plenty for speech


def write_wav(path: Path, pcm16: bytes, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit mono PCM as a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm16)
    return path


def silence(seconds: float, sample_rate: int = SAMPLE_RATE) -> bytes:
    return b"\x00\x00" * int(seconds * sample_rate)


async def _piper_speech(text: str, sample_rate: int) -> bytes:
    from streaming.audio import resample
    from streaming.engines.piper_tts import PiperTts

    tts = await asyncio.to_thread(PiperTts)
    pcm = b"".join([chunk async for chunk in tts.synthesize(text)])
    return resample(pcm, tts.sample_rate, sample_rate)


def speech(text: str, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``text`` said by the Piper voice the agents use (en_US joe), PCM16 mono at ``sample_rate``.

    Synthesis runs its own asyncio loop in a thread of its own, so callers may have a loop of their own
    (Playwright's sync API keeps one on the calling thread).
    """
    with ThreadPoolExecutor(1, thread_name_prefix="caller-voice") as pool:
        return pool.submit(asyncio.run, _piper_speech(text, sample_rate)).result()


def caller_wav(path: Path, text: str, lead_silence_s: float = 1.5, tail_silence_s: float = 4.0,
               sample_rate: int = SAMPLE_RATE) -> Path:
    """A fake-microphone WAV: ``lead_silence_s`` of silence, ``text`` spoken, then ``tail_silence_s``."""
    pcm = silence(lead_silence_s, sample_rate) + speech(text, sample_rate) + silence(tail_silence_s, sample_rate)
    return write_wav(path, pcm, sample_rate)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    print(caller_wav(Path(argv[1]), argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
