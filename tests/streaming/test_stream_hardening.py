"""Hostile or broken media streams: too fast, idle, too many, key floods, duplicates, bad tokens, deep JSON.

Each is refused or closed with a clear close code and reason; an admitted call is still finalized exactly
once, and nothing counts as a server error.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time

import aiohttp
import pytest

from chalicelib.telephony import stream_tokens
from streaming.engines.instant import InstantLlm
from streaming.engines.registry import EngineRegistry
from streaming.server import STATE
from streaming.transports import twilio
from streaming.transports.limits import DtmfLimit
from tests.streaming.harness import INSTANT, SECRET, RecordingLifecycle, TwilioSide, running_server, tone

DEEP_JSON = "[" * 20_000 + "]" * 20_000  # 40 KB: under the message size limit, far over the recursion limit


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def counters(app) -> dict:
    return dict(app[STATE].counters)


class Side(TwilioSide):
    """The harness's Twilio side, remembering why the server closed the stream."""

    close_reason = ""

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                self.received.append((time.monotonic(), json.loads(message.data)))
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.ERROR):
                if message.type == aiohttp.WSMsgType.CLOSE:
                    self.close_reason = message.extra or ""
                return


async def open_stream(http: aiohttp.ClientSession, url: str, call_id: int, stream_sid: str) -> Side:
    side = Side(await http.ws_connect(f"{url}/twilio"), stream_sid=stream_sid)
    await side.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    await side.start(call_id, stream_tokens.issue(SECRET, 3, call_id))
    return side


async def flood(side: Side, seconds: float) -> None:
    """``seconds`` of caller audio as fast as the socket takes it (until the server closes it)."""
    payload = base64.b64encode(b"\xff" * 160).decode()
    for index in range(int(seconds * 50)):
        if side.ws.closed:
            return
        try:
            await side.send({"event": "media", "streamSid": side.stream_sid,
                             "media": {"track": "inbound", "chunk": str(index), "payload": payload}})
        except (ConnectionResetError, aiohttp.ClientError):
            return


# --- pace -------------------------------------------------------------------------------------------


def test_a_stream_faster_than_real_time_is_closed_and_the_call_finalized_once() -> None:
    recorder = RecordingLifecycle()
    settings = dataclasses.replace(INSTANT, audio_rate_window_s=1.0, max_audio_rate=1.5)

    async def scenario() -> tuple[int | None, dict]:
        async with running_server(recorder, settings) as (url, app), aiohttp.ClientSession() as http:
            side = await open_stream(http, url, 91, "MZ91")
            await side.wait_for(lambda: counters(app).get("calls_started") == 1)
            await flood(side, 10.0)  # ten seconds of audio in a moment: well over 1.5 s per second
            code = await side.closed()
            await side.wait_for(lambda: recorder.finalized)
            assert "faster than real time" in side.close_reason
            return code, counters(app)

    code, seen = run(scenario())
    assert code == 1008
    [(call_id, result)] = recorder.finalized
    assert (call_id, result.ended_by) == (91, "audio_too_fast")
    assert seen["refused_too_fast"] == 1 and seen.get("errors", 0) == 0 and seen["finalized"] == 1


def test_a_stream_that_sends_no_media_after_admission_is_closed_and_the_call_finalized_once() -> None:
    recorder = RecordingLifecycle()
    settings = dataclasses.replace(INSTANT, idle_timeout_s=0.5)

    async def scenario() -> tuple[int | None, dict]:
        async with running_server(recorder, settings) as (url, app), aiohttp.ClientSession() as http:
            side = await open_stream(http, url, 92, "MZ92")
            await side.audio(tone(0.1))
            for _ in range(3):  # marks and junk are not media: they do not keep a silent stream alive
                await side.send({"event": "mark", "streamSid": "MZ92", "mark": {"name": "nothing"}})
            code = await side.closed()
            await side.wait_for(lambda: recorder.finalized)
            assert "no media" in side.close_reason
            return code, counters(app)

    code, seen = run(scenario())
    assert code == 1008
    [(call_id, result)] = recorder.finalized
    assert (call_id, result.ended_by) == (92, "idle")
    assert seen["closed_idle"] == 1 and seen.get("errors", 0) == 0 and seen["finalized"] == 1


# --- capacity -----------------------------------------------------------------------------------------


def test_streams_beyond_the_per_task_cap_are_answered_503_before_the_upgrade() -> None:
    recorder = RecordingLifecycle()
    settings = dataclasses.replace(INSTANT, max_streams=2)

    async def scenario() -> None:
        async with running_server(recorder, settings) as (url, app), aiohttp.ClientSession() as http:
            admitted = await open_stream(http, url, 93, "MZ93")
            waiting = await http.ws_connect(f"{url}/twilio")  # upgraded, no start yet: it holds a slot too
            await admitted.wait_for(lambda: counters(app).get("calls_started") == 1)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{url}/twilio")
            assert refused.value.status == 503
            async with http.get(f"{url.replace('ws://', 'http://')}/twilio") as response:
                assert response.status == 503
                body = await response.json()
                assert body["error"] == "busy" and "2 streams" in body["error_description"]
            assert counters(app)["refused_busy"] == 2
            await waiting.close()
            await admitted.wait_for(lambda: app[STATE].streams == 1)
            again = await http.ws_connect(f"{url}/twilio")  # a slot was freed
            await again.close()
            await admitted.stop()
            await admitted.closed()
            await admitted.wait_for(lambda: recorder.finalized)

    run(scenario())


# --- keypad -------------------------------------------------------------------------------------------


def test_a_keypad_flood_reaches_the_conversation_as_a_bounded_number_of_digits() -> None:
    seen: list[str] = []
    recorder = RecordingLifecycle()

    class Listening(InstantLlm):
        async def stream(self, messages, options):
            seen.append(messages[-1].content)
            async for token in super().stream(messages, options):
                yield token

    async def scenario() -> dict:
        registry = EngineRegistry()
        registry.register("llm", "instant", Listening)
        async with running_server(recorder, registry=registry) as (url, app), aiohttp.ClientSession() as http:
            side = await open_stream(http, url, 94, "MZ94")
            for _ in range(500):
                await side.send({"event": "dtmf", "streamSid": "MZ94", "dtmf": {"track": "inbound_track",
                                                                                "digit": "7"}})
            await side.send({"event": "dtmf", "streamSid": "MZ94", "dtmf": {"track": "inbound_track", "digit": "#"}})
            await side.wait_for(lambda: seen)
            await side.stop()
            await side.closed()
            await side.wait_for(lambda: recorder.finalized)
            return counters(app)

    seen_counters = run(scenario())
    assert len(seen) == 1
    assert seen[0].count("7") == DtmfLimit.max_per_turn and seen[0].count("#") == 1
    assert seen_counters["dtmf_dropped"] == 500 - DtmfLimit.max_per_turn


def test_the_keypad_limit_resets_per_turn_and_caps_the_call() -> None:
    limit = DtmfLimit(settle_s=1.0)
    kept = [limit.admit("1", at=0.01 * i) for i in range(40)]
    assert kept.count(True) == DtmfLimit.max_per_turn  # one entry without a pause: the rest is dropped
    assert limit.admit("#", at=0.5)  # ends the entry (the session flushes on "#")
    assert limit.admit("2", at=0.6)
    assert limit.admit("3", at=5.0)  # after a pause the session has flushed: a new entry
    at = 10.0
    while limit.admit("#", at=at):
        at += 0.01
    assert limit.kept == DtmfLimit.max_per_call
    assert not limit.admit("#", at=at + 100)


# --- one stream per call ------------------------------------------------------------------------------


@pytest.mark.parametrize("second_sid", ["MZ95", "MZ95-other"], ids=["replayed_stream_sid", "other_stream_sid"])
def test_a_second_stream_for_a_live_call_is_refused(second_sid: str) -> None:
    recorder = RecordingLifecycle()

    async def scenario() -> tuple[int | None, dict]:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            first = await open_stream(http, url, 95, "MZ95")
            await first.wait_for(lambda: counters(app).get("calls_started") == 1)
            second = await open_stream(http, url, 95, second_sid)
            code = await second.closed()
            assert "live media stream" in second.close_reason
            await first.audio(tone(0.2))  # the first stream is untouched
            await first.stop()
            await first.closed()
            await first.wait_for(lambda: recorder.finalized)
            return code, counters(app)

    code, seen = run(scenario())
    assert code == 1008
    assert [call_id for call_id, _ in recorder.finalized] == [95]
    assert recorder.finalized[0][1].ended_by == "caller"
    assert seen["rejected_duplicate"] == 1 and seen["calls_started"] == 1 and seen.get("errors", 0) == 0


# --- hostile messages ---------------------------------------------------------------------------------


def test_a_non_ascii_token_is_refused_like_any_bad_token() -> None:
    assert stream_tokens.verify(SECRET, "é.ü", 5) is None
    assert stream_tokens.verify(SECRET, stream_tokens.issue(SECRET, 3, 5) + "é", 5) is None
    recorder = RecordingLifecycle()

    async def scenario() -> tuple[int | None, dict]:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            side = await Side.open(http, url, call_id=96, token="tøken.sïgnature")
            return await side.closed(), counters(app)

    code, seen = run(scenario())
    assert code == 1008
    assert seen["rejected_admission"] == 1 and seen.get("errors", 0) == 0
    assert recorder.finalized == [] and recorder.started == []


def test_deeply_nested_json_parses_as_a_fatal_malformed_message() -> None:
    event = twilio.parse(DEEP_JSON)
    assert isinstance(event, twilio.Malformed) and event.fatal
    nested_start = json.dumps({"event": "start", "start": {"streamSid": "MZ1", "customParameters": {
        "call_id": "1", "token": "x"}}})[:-2] + ', "deep": ' + DEEP_JSON + "}}"
    event = twilio.parse(nested_start)
    assert isinstance(event, twilio.Malformed) and event.fatal


@pytest.mark.parametrize("when", ["before_start", "after_admission"])
def test_deeply_nested_json_closes_the_stream_cleanly(when: str) -> None:
    recorder = RecordingLifecycle()

    async def scenario() -> tuple[int | None, dict]:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            if when == "before_start":
                side = await Side.open(http, url, call_id=97, send_start=False)
            else:
                side = await open_stream(http, url, 97, "MZ97")
                await side.wait_for(lambda: counters(app).get("calls_started") == 1)
            await side.ws.send_str(DEEP_JSON)
            code = await side.closed()
            assert "nested" in side.close_reason
            if when == "after_admission":
                await side.wait_for(lambda: recorder.finalized)
            return code, counters(app)

    code, seen = run(scenario())
    assert code == 1008
    assert seen.get("errors", 0) == 0 and seen["refused_malformed"] == 1
    if when == "before_start":
        assert recorder.finalized == []
    else:
        [(call_id, result)] = recorder.finalized
        assert (call_id, result.ended_by) == (97, "protocol_error")


def test_a_start_with_a_bad_stream_sid_or_parameters_is_malformed() -> None:
    def start(stream_sid: object, parameters: object) -> str:
        return json.dumps({"event": "start", "start": {"streamSid": stream_sid, "customParameters": parameters,
                                                       "mediaFormat": {"encoding": "audio/x-mulaw"}}})

    assert isinstance(twilio.parse(start("MZ" + "a" * 32, {"call_id": "1"})), twilio.Start)
    for stream_sid in ["", "MZ 1", "MZé", "M" * 200, ["MZ1"]]:
        assert isinstance(twilio.parse(start(stream_sid, {})), twilio.Malformed), stream_sid
    assert isinstance(twilio.parse(start("MZ1", {"call_id": {"nested": 1}})), twilio.Malformed)
