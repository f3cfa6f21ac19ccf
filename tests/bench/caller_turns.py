"""What the latency benchmarks share, whatever the wire: the bakery agent, the caller's sentences (Piper
speech at the wire's rate), the turns every simulated caller plays, and the lines of figures they print.

A wire's caller (phone: ``voice_latency.PhoneCaller``; web: ``web_latency.WebCaller``) implements
:class:`Caller`; :func:`run_turns` plays the same script on either: wait for the welcome, then for each
turn say a sentence, time mouth-to-ear, and every third turn talk over the reply (barge-in).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

SENTENCES = [
    "What time do you open tomorrow morning?",
    "Can I order a chocolate cake for Saturday?",
    "Do you have any gluten free bread today?",
    "How much does a dozen croissants cost?",
    "Is there parking near the shop?",
    "Can I pay with a credit card?",
    "Do you deliver to the city center?",
    "What is your most popular pastry?",
    "Are you open on public holidays?",
    "Can I pick up my order after six?",
    "Do you make birthday cakes with names on them?",
    "Thank you, that is all I needed.",
]
BARGE_IN = "Sorry, one more question."
LEVEL = 500  # PCM16 RMS above which a caller frame counts as speech


@dataclass
class TurnSample:
    mouth_to_ear_ms: float | None
    barge_in_ms: float | None = None


@dataclass
class CallRun:
    call_id: int
    samples: list[TurnSample] = field(default_factory=list)


class Caller(Protocol):
    """One simulated caller on some wire, speaking the texts of :data:`SENTENCES` and :data:`BARGE_IN`."""

    def say(self, text: str) -> None: ...

    async def wait_sent(self) -> None: ...

    def last_speech_sent(self, since: float) -> float | None:
        """When the last caller frame with speech left, among those sent after ``since`` (monotonic)."""
        ...

    async def wait_agent_speech(self, timeout: float) -> None: ...

    async def wait_agent_silence(self, seconds: float, timeout: float) -> None:
        """Until the agent has talked (or is talking) and then been quiet ``seconds``."""
        ...

    def first_agent_audio_after(self, t: float) -> float | None:
        """When the first frame of agent audio after ``t`` reached the caller."""
        ...

    def barge_in_acks(self) -> list[float]:
        """When each sign that the service stopped the agent for the caller arrived (Twilio ``clear``)."""
        ...

    def first_speech_sent_after(self, t: float) -> float: ...


def bakery_agent_config() -> dict[str, Any]:
    return {"welcome_message": "Hello, thank you for calling Parley Bakery.",
            "context_breakdown": [{"title": "Role", "body": "You answer the phone for Parley Bakery. Opening hours: "
                                   "seven to six, Monday to Saturday. Cakes need two days notice."}],
            "is_interruption_allowed": True}


class Piper:
    def __init__(self) -> None:
        from streaming.engines.piper_tts import PiperTts

        self.engine = PiperTts()
        self.rate = self.engine.sample_rate

    def synth(self, text: str) -> bytes:
        async def run() -> bytes:
            return b"".join([chunk async for chunk in self.engine.synthesize(text)])
        return asyncio.run(run())


def caller_speech(rates: list[int]) -> dict[int, dict[str, bytes]]:
    """Each text in Piper's voice at each rate, leading and trailing silence trimmed to whole 20 ms frames
    (so the last frame sent is speech)."""
    from streaming.audio import resample

    voice = Piper()
    spoken = {text: voice.synth(text) for text in [*SENTENCES, BARGE_IN]}
    audio: dict[int, dict[str, bytes]] = {}
    for rate in rates:
        audio[rate] = {}
        size = rate // 50
        for text, pcm in spoken.items():
            samples = np.frombuffer(resample(pcm, voice.rate, rate), dtype="<i2").astype(np.float32)
            frames = samples[: len(samples) // size * size].reshape(-1, size)
            loud = np.nonzero(np.sqrt((frames ** 2).mean(axis=1)) > LEVEL)[0]
            audio[rate][text] = frames[loud[0]:loud[-1] + 1].astype("<i2").tobytes()
    return audio


async def run_turns(caller: Caller, call_id: int, turns: int, run: CallRun) -> None:
    await caller.wait_agent_silence(1.0, timeout=60)  # the welcome message
    for turn in range(turns):
        started = time.monotonic()
        caller.say(SENTENCES[(call_id + turn) % len(SENTENCES)])
        await caller.wait_sent()
        last = caller.last_speech_sent(started)
        await caller.wait_agent_speech(timeout=60)
        first = caller.first_agent_audio_after(last) if last else None
        sample = TurnSample(None if first is None or last is None else round(1000 * (first - last), 1))
        if turn % 3 == 2:  # talk over the reply
            await asyncio.sleep(0.6)
            acks_before = len(caller.barge_in_acks())
            barge_started = time.monotonic()
            caller.say(BARGE_IN)
            deadline = time.monotonic() + 5
            while len(caller.barge_in_acks()) == acks_before and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            acks = caller.barge_in_acks()
            if len(acks) > acks_before:
                sample.barge_in_ms = round(1000 * (acks[-1] - caller.first_speech_sent_after(barge_started)), 1)
            await caller.wait_sent()
        run.samples.append(sample)
        await caller.wait_agent_silence(1.2, timeout=90)


def engine_names() -> str:
    """The streaming service's configured engines, as the benchmarks print them."""
    from streaming.settings import StreamingSettings

    engines = StreamingSettings.from_env()
    return (f"STT {engines.stt_default}, turn {engines.turn_model}, LLM {engines.llm_default}, "
            f"TTS {engines.tts_default}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<34} (no samples)"
    return f"  {name:<34} p50 {pct(values, 0.5):7.1f} ms   p95 {pct(values, 0.95):7.1f} ms   (n={len(values)})"


def framework_overhead(metrics: list[dict[str, Any]]) -> list[float]:
    """Per turn: first audio frame sent - the end of turn (the judge's or the silence timeout's) - engine compute
    left on the critical path after it."""
    overhead = []
    for m in metrics:
        if m.get("first_audio_out_ms") is None or m.get("stt_started_ms") is None:
            continue
        engines = sum(m["engine_ms"].get(stage, 0.0) for stage in ("stt", "llm", "tts"))
        waited = m.get("end_of_turn_ms")
        critical = max(float(m["silence_timeout_ms"] if waited is None else waited), m["stt_started_ms"] + engines)
        overhead.append(m["first_audio_out_ms"] - critical)
    return overhead


def wait_for_turn_metrics(account_id: int, call_ids: list[int], timeout: float = 60) -> list[Any]:
    """The calls' records once each has its turn metrics (finalized), or as they are at the deadline."""
    from chalicelib.db.models import Call

    deadline = time.monotonic() + timeout
    calls = [Call.get(account_id, call_id) for call_id in call_ids]
    while any(c.turn_metrics is None for c in calls) and time.monotonic() < deadline:
        time.sleep(0.5)
        calls = [Call.get(account_id, call_id) for call_id in call_ids]
    return calls
