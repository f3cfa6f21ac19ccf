"""The Twilio Media Streams endpoint end to end over a real WebSocket, with instant engines."""
from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest

from chalicelib.telephony import stream_tokens
from streaming.server import STATE
from tests.streaming.harness import SECRET, RecordingLifecycle, TwilioSide, quiet, running_server, tone


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_caller_turn_gets_a_spoken_reply_with_marks_and_the_call_is_finalized_once() -> None:
    recorder = RecordingLifecycle(agent_config={"welcome_message": "Hello there."})

    async def scenario() -> None:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=11)
            await side.wait_for(lambda: side.events("mark"))  # the welcome message played
            await side.audio(quiet(0.3) + tone(0.6) + quiet(0.8), realtime=True)
            # The reply plays as three phrases: a short first one (6 words) to start speaking early, then sentences.
            await side.wait_for(lambda: len(side.events("mark")) >= 4)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)
        media = side.events("media")
        assert media and all(m["streamSid"] == "MZ0001" for m in media)
        assert {len(base64.b64decode(m["media"]["payload"])) for m in media} == {160}
        assert recorder.started == [11]
        [(call_id, result)] = recorder.finalized
        assert call_id == 11 and result.ended_by == "caller"
        roles = [(t["role"], t.get("source", "speech")) for t in result.transcript]
        assert roles == [("agent", "welcome"), ("user", "speech"), ("agent", "speech")]
        assert result.transcript[1]["text"] == "I would like to book an appointment for tomorrow morning."
        assert result.transcript[2]["text"] == "Sure, I can help you with that. What time suits you best?"
        [metrics] = result.turn_metrics
        assert metrics["end_of_turn_ms"] >= 480  # default silence timeout (500 ms of audio; arrival times jitter)
        assert metrics["first_audio_out_ms"] >= metrics["end_of_turn_ms"]
        assert result.wav[:4] == b"RIFF" and result.duration_s > 1.5

    run(scenario())


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "other_call", "bad_call_id"])
def test_a_stream_without_a_valid_token_is_refused_and_nothing_is_written(case: str) -> None:
    recorder = RecordingLifecycle()
    tokens = {"missing": "", "forged": stream_tokens.issue("not-the-secret", 3, 5),
              "expired": stream_tokens.issue(SECRET, 3, 5, ttl_seconds=-10),
              "other_call": stream_tokens.issue(SECRET, 3, 6), "bad_call_id": stream_tokens.issue(SECRET, 3, 5)}

    async def scenario() -> int | None:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=5, send_start=False)
            if case == "bad_call_id":
                await side.send({"event": "start", "streamSid": "MZ1", "start": {
                    "streamSid": "MZ1", "customParameters": {"call_id": "five", "token": tokens[case]},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
            else:
                await side.start(5, tokens[case])
            code = await side.closed()
            assert app_counters(app)["rejected_admission"] == 1
            return code

    assert run(scenario()) == 1008
    assert recorder.finalized == [] and recorder.started == []


def test_a_wrong_codec_is_refused() -> None:
    recorder = RecordingLifecycle()

    async def scenario() -> int | None:
        async with running_server(recorder) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, media_format={"encoding": "audio/l16", "sampleRate": 16000,
                                                                  "channels": 1})
            return await side.closed()

    assert run(scenario()) == 1003
    assert recorder.finalized == []


def test_malformed_frames_and_unknown_events_are_counted_and_ignored() -> None:
    recorder = RecordingLifecycle()

    async def scenario() -> dict:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=21)
            for junk in ["not json", "[]", "{}", '{"event": 5}', '{"event":"media"}',
                         '{"event":"media","media":{"payload":"***"}}', '{"event":"dtmf","dtmf":{"digit":"x"}}',
                         '{"event":"mark","mark":{}}', '{"event":"start","start":"nope"}']:
                await side.ws.send_str(junk)
            await side.ws.send_bytes(b"\x00\x01")
            await side.send({"event": "surprise", "streamSid": "MZ0001"})
            await side.audio(tone(0.5) + quiet(0.7))
            await side.wait_for(lambda: side.events("media"))
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)
            return app_counters(app)

    counters = run(scenario())
    assert counters["malformed"] == 10 and counters["unknown_events"] == 1
    assert counters.get("errors", 0) == 0 and counters["finalized"] == 1


def test_barge_in_clears_playback_and_truncates_the_agent_turn_to_what_was_heard() -> None:
    long_reply = ("Let me tell you about all of our opening hours, which are quite detailed, starting with "
                  "Monday through Friday from eight in the morning until late at night, and then weekends too.")
    recorder = RecordingLifecycle(agent_config={"is_interruption_allowed": True})

    async def scenario() -> None:
        from streaming.engines.instant import InstantLlm
        from streaming.engines.registry import EngineRegistry

        registry = EngineRegistry()
        registry.register("llm", "instant", InstantLlm, reply=long_reply)
        async with running_server(recorder, registry=registry) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=31)
            await side.audio(tone(0.5) + quiet(0.6))
            await side.wait_for(lambda: len(side.events("media")) > 40)  # ~0.8 s of the reply played
            await side.audio(tone(0.3), realtime=True)
            await side.wait_for(lambda: side.events("clear"))
            await side.audio(quiet(0.7))
            await asyncio.sleep(0.3)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    run(scenario())
    [(_, result)] = recorder.finalized
    agent_turns = [t for t in result.transcript if t["role"] == "agent"]
    interrupted = agent_turns[0]
    assert interrupted["interrupted"] is True and interrupted["generated"] == long_reply
    heard = interrupted["text"].split()
    assert 0 < len(heard) < len(long_reply.split())
    assert long_reply.startswith(interrupted["text"])
    assert result.conversation["barge_ins"] and result.conversation["barge_ins"][0] < 250


def test_dtmf_digits_reach_the_llm_as_text() -> None:
    seen: list[str] = []
    recorder = RecordingLifecycle()

    async def scenario() -> None:
        from streaming.engines.instant import InstantLlm
        from streaming.engines.registry import EngineRegistry

        class Listening(InstantLlm):
            async def stream(self, messages, options):
                seen.append(messages[-1].content)
                async for token in super().stream(messages, options):
                    yield token

        registry = EngineRegistry()
        registry.register("llm", "instant", Listening)
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=41)
            for digit in "42#":
                await side.send({"event": "dtmf", "streamSid": "MZ0001", "dtmf": {"track": "inbound_track",
                                                                                 "digit": digit}})
            await side.wait_for(lambda: side.events("media"))
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    run(scenario())
    assert seen and "4 2 #" in seen[0]


def test_the_agent_can_end_the_call() -> None:
    recorder = RecordingLifecycle(agent_config={"end_call": {"enabled": True}})

    async def scenario() -> int | None:
        from streaming.engines.instant import InstantLlm
        from streaming.engines.registry import EngineRegistry

        registry = EngineRegistry()
        registry.register("llm", "instant", InstantLlm, reply="Thanks for calling, goodbye! [END_CALL]")
        async with running_server(recorder, registry=registry) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=51)
            await side.audio(tone(0.4) + quiet(0.6))
            code = await side.closed()
            await side.wait_for(lambda: recorder.finalized)
            return code

    run(scenario())
    [(_, result)] = recorder.finalized
    assert result.ended_by == "agent"
    assert result.transcript[-1]["text"] == "Thanks for calling, goodbye!"


def test_a_dropped_socket_still_finalizes_the_call_exactly_once() -> None:
    recorder = RecordingLifecycle()

    async def scenario() -> None:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=61)
            await side.audio(tone(0.3))
            await side.ws.close()
            await side.wait_for(lambda: recorder.finalized)
            await asyncio.sleep(0.2)

    run(scenario())
    [(call_id, result)] = recorder.finalized
    assert call_id == 61 and result.ended_by == "stream_dropped"


def app_counters(app) -> dict:
    from streaming.server import STATE

    return dict(app[STATE].counters)


def test_a_welcome_message_without_final_punctuation_is_spoken_in_full() -> None:
    welcome = "Hello there, you have reached the bakery on the corner of Main Street"
    recorder = RecordingLifecycle(agent_config={"welcome_message": welcome})

    async def scenario() -> None:
        async with running_server(recorder) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=71)
            await side.wait_for(lambda: len(side.events("mark")) >= 2)  # "Hello there," then the rest
            await asyncio.sleep(0.1)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)

    run(scenario())
    [(_, result)] = recorder.finalized
    assert result.transcript[0]["text"] == welcome and not result.transcript[0].get("interrupted")


def test_after_the_call_the_conversation_is_analysed_and_announced_once() -> None:
    recorder = RecordingLifecycle(agent_config={"welcome_message": "Hello there."}, analyse=True,
                                  extracted_variables=[{"key": "date", "prompt": "The day booked"}])

    async def scenario() -> None:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=12)
            await side.wait_for(lambda: side.events("mark"))
            await side.audio(quiet(0.3) + tone(0.6) + quiet(0.8), realtime=True)
            await side.wait_for(lambda: len(side.events("mark")) >= 4)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.completed)
            assert app[STATE].counters["completed_events"] == 1

    run(scenario())
    [(call_id, analysis)] = recorder.completed
    assert call_id == 12 and analysis["errors"] == []
    assert analysis["summary"] and analysis["sentiment"] in ("positive", "neutral", "negative")
    assert set(analysis["extracted_variables"]) == {"date"} and analysis["engine"] == "instant"
