"""A real voice call on the local stack: SDK dispatch -> the carrier simulator answers and opens a
Twilio Media Stream -> the agent greets, hears a spoken sentence, answers in speech -> completed.

Everything is real: the streaming service runs Silero VAD, faster-whisper, llama.cpp and Piper; the
simulated caller speaks Piper audio over the Twilio protocol and records what it heard, which this
test transcribes back with Whisper.
"""
from __future__ import annotations

import io
import re
import time
import wave
from typing import Any

import pytest
import requests
from omnidimension import Client

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "e2" * 16
CALLER = "+15557654321"
WELCOME = "Hello, thank you for calling Parley Bakery."
QUESTION = "What time do you open tomorrow morning?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def finished_log(client: Client, call_id: int, timeout: float) -> dict:
    """The call's log once it has ended and its conversation is recorded (or as it is at the timeout)."""
    deadline = time.monotonic() + timeout
    log: dict = {}
    while time.monotonic() < deadline:
        log = client.call.get_call_log(call_id)["json"]
        if log["call_status"] in ("completed", "failed", "busy", "no_answer") and log.get("transcript") is not None:
            break
        time.sleep(1)
    return log


def bakery_agent(client: Client, **extra: object) -> dict:
    """The bakery agent the local-stack call tests talk to (it knows the opening hours they ask about)."""
    return client.agent.create(
        name="Bakery line", welcome_message=WELCOME,
        context_breakdown=[{"title": "Role", "body": "You answer the phone for Parley Bakery. The bakery opens "
                                                     "at seven in the morning and closes at six in the evening."}],
        **extra,
    )["json"]


def without_long_silences(pcm: bytes, rate: int = 8000, keep_s: float = 0.4) -> bytes:
    """The audio with every silence cut to ``keep_s``: a slow reply (a loaded machine) leaves long silences between
    the greeting and the reply, which Whisper, given the whole call at once, may decode past."""
    import numpy as np

    frame = rate // 50  # 20 ms
    samples = np.frombuffer(pcm, dtype="<i2")
    kept: list[np.ndarray] = []
    quiet = 0
    for start in range(0, len(samples), frame):
        chunk = samples[start:start + frame]
        loud = float(np.sqrt(np.mean(chunk.astype(np.float32) ** 2))) > 100.0 if len(chunk) else False
        quiet = 0 if loud else quiet + 1
        if loud or quiet * 0.02 <= keep_s:
            kept.append(chunk)
    return b"".join(c.tobytes() for c in kept)


def transcribe_8k_wav(path: str) -> str:
    import asyncio

    from streaming.audio import resample
    from streaming.engines.whisper_stt import WhisperStt

    with wave.open(path, "rb") as recording:
        assert recording.getframerate() == 8000
        pcm = recording.readframes(recording.getnframes())
        if recording.getnchannels() == 2:
            import numpy as np

            pcm = np.frombuffer(pcm, dtype="<i2")[1::2].tobytes()

    async def run() -> str:
        stream = WhisperStt().open("en-US")
        stream.feed(resample(without_long_silences(pcm), 8000, 16000))
        try:
            return await stream.transcript()
        finally:
            await stream.close()

    return asyncio.run(run())


def assert_spoken_conversation(log: dict[str, Any], channel: str) -> None:
    """A completed call of ``channel`` whose log holds the greeting, the caller's question, a reply, metrics and
    a recording (the bakery agent, a caller asking when it opens tomorrow)."""
    assert log["call_status"] == "completed", log
    assert log["channel"] == channel
    assert not log["conversation"]["errors"], log["conversation"]
    turns = log["transcript"]
    assert turns[0]["role"] == "agent" and turns[0]["text"] == WELCOME
    heard = " ".join(t["text"] for t in turns if t["role"] == "user")
    assert {"open", "tomorrow"} <= set(words(heard)), turns
    assert any(t["role"] == "agent" and t.get("source") != "welcome" and t["text"] for t in turns), turns
    assert log["turn_metrics"] and log["turn_metrics"][0]["first_audio_out_ms"] is not None
    assert requests.get(log["recording_url"], timeout=10).status_code == 200


def test_a_dispatched_call_is_a_spoken_conversation_with_transcript_recording_and_metrics(local_stack: dict) -> None:
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = bakery_agent(client, is_interruption_allowed=True)
    number = client.phone_number.import_twilio("+15005550006", TWILIO_SID, "tok_" + "v" * 28, name="Bakery")["json"]
    sim = local_stack["carrier_sim_url"]
    rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
    script = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
              {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"hang_up": True}]
    requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.2, "scripts": {CALLER: script}},
                 timeout=5).raise_for_status()

    dispatched = client.call.dispatch_call(agent["id"], CALLER, from_number_id=number["phone_number"]["id"],
                                           call_context={"customer_name": "Ada"})["json"]
    call_id = dispatched["call_id"]

    log = finished_log(client, call_id, timeout=240)
    assert log.get("call_status") == "completed", log
    assert log["conversation"]["ended_by"] in ("caller", "stream_dropped"), log["conversation"]
    assert not log["conversation"]["errors"], log["conversation"]

    turns = log["transcript"]
    assert turns[0]["role"] == "agent" and turns[0]["source"] == "welcome" and turns[0]["text"] == WELCOME
    heard = [t for t in turns if t["role"] == "user"]
    assert heard, turns
    assert {"open", "tomorrow", "morning"} <= set(words(" ".join(t["text"] for t in heard))), heard
    replies = [t for t in turns if t["role"] == "agent" and t.get("source") != "welcome"]
    assert replies and replies[0]["text"], turns
    assert turns.index(replies[0]) > turns.index(heard[0])

    [metrics, *_] = log["turn_metrics"]
    for stage in ("stt_final_ms", "llm_first_token_ms", "tts_first_audio_ms", "first_audio_out_ms"):
        assert metrics[stage] is not None, metrics
    # The turn ended on the agent's silence timeout (500 ms) or earlier, at a pause the end-of-turn judge found
    # complete (never before the 96 ms pause); the reply's audio only after it.
    assert metrics["end_of_turn_by"] in ("silence", "semantic"), metrics
    floor = 400 if metrics["end_of_turn_by"] == "silence" else 90
    assert metrics["first_audio_out_ms"] >= metrics["end_of_turn_ms"] >= floor, metrics

    recording = requests.get(log["recording_url"], timeout=10)
    assert recording.status_code == 200
    with wave.open(io.BytesIO(recording.content), "rb") as stereo:
        assert (stereo.getnchannels(), stereo.getframerate()) == (2, 8000)
        assert stereo.getnframes() / 8000 > 3

    # What the caller actually heard, transcribed back: the greeting, then the reply the log shows.
    [sim_call] = [c for c in requests.get(f"{sim}/sim/calls", timeout=5).json()["calls"] if c["to"] == CALLER]
    media = requests.get(f"{sim}/sim/calls/{sim_call['sid']}", timeout=5).json()["media"]
    assert media["connected"] and media["clears"] == 0
    heard_back = words(transcribe_8k_wav(media["recording"]))
    spoken = words(WELCOME + " " + " ".join(t["text"] for t in replies))
    common = sum(1 for w in set(spoken) if w in heard_back)
    assert {"thank", "calling"} <= set(heard_back) and any(w.startswith("baker") for w in heard_back), heard_back
    assert common >= 0.6 * len(set(spoken)), (heard_back, spoken)


def test_an_answering_machine_gets_the_agents_voicemail_message(local_stack: dict) -> None:
    """A number ending in 7 is an answering machine at the carrier simulator: greeting, beep, recording."""
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    message = "Hi, this is Parley Bakery. Your cake is ready, please call us back."
    agent = client.agent.create(
        name="Bakery reminders", welcome_message="Hello, this is Parley Bakery calling about your order.",
        context_breakdown=[{"title": "Role", "body": "You call customers of Parley Bakery about their orders."}],
    )["json"]
    assert requests.put(f"{local_stack['api_url']}/agents/{agent['id']}", timeout=10,
                        headers={"Authorization": f"Bearer {local_stack['api_key']}"},
                        json={"voicemail": {"enabled": True, "message": message}}).status_code == 200
    number = client.phone_number.import_twilio("+15005550010", TWILIO_SID, "tok_" + "v" * 28, name="Out")["json"]
    machine = "+15557654327"
    call_id = client.call.dispatch_call(agent["id"], machine, from_number_id=number["phone_number"]["id"])[
        "json"]["call_id"]

    log = finished_log(client, call_id, timeout=180)
    assert log.get("call_status") == "completed", log
    assert log["details"]["answered_by"] == "machine_end_beep"
    assert log["conversation"]["ended_by"] == "voicemail", log["conversation"]
    left = [t for t in log["transcript"] if t.get("source") == "voicemail"]
    assert [t["text"] for t in left] == [message]
    # The machine's greeting is in the transcript as the callee's words; an answer the agent had begun before the
    # detection came was cut off by it, and nothing followed.
    spoken = [t for t in log["transcript"] if t.get("source", "speech") == "speech"]
    assert all(t["role"] == "user" or t.get("interrupted") for t in spoken), log["transcript"]
    assert log["transcript"][-1]["source"] == "voicemail"
    sim = local_stack["carrier_sim_url"]
    [sim_call] = [c for c in requests.get(f"{sim}/sim/calls", timeout=5).json()["calls"] if c["to"] == machine]
    media = requests.get(f"{sim}/sim/calls/{sim_call['sid']}", timeout=5).json()["media"]
    assert media["kind"] == "answering-machine" and media["message_ended_by"] == "agent-hung-up", media
    heard = words(transcribe_8k_wav(media["recording"]))
    assert {"cake", "ready"} <= set(heard), heard
