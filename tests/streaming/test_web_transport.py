"""The WebRTC transport end to end: an aiortc peer (what the widget does in a browser) against the streaming
server's ``/web/offer``, over real ICE, DTLS-SRTP, Opus and SCTP on this machine, with instant engines."""
from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import pytest

from chalicelib.domain.call_media import Admission, Rejected
from chalicelib.telephony import stream_tokens
from devstack.web_peer import OfferRefused, WebPeer
from streaming.monitoring.hub import MonitorHub
from streaming.monitoring.publisher import MonitorPublisher
from streaming.server import STATE
from tests.streaming.harness import INSTANT, SECRET, RecordingLifecycle, running_server, tone

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class OneUseLifecycle(RecordingLifecycle):
    """Admits a call once, as the call record's conditional claim does."""

    claimed: set[int] = field(default_factory=set)

    def admit(self, call_id: str, token: str, stream_sid: str, secret: str) -> Admission:
        admission = super().admit(call_id, token, stream_sid, secret)
        if admission.call_id in self.claimed:
            raise Rejected("call already has a media stream")
        self.claimed.add(admission.call_id)
        return admission


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def offer_url(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://") + "/web/offer"


def token(call_id: int) -> str:
    return stream_tokens.issue(SECRET, 3, call_id, ttl_seconds=60)


def speech_48k(seconds: float) -> bytes:
    return tone(seconds, rate=48000)


def test_a_browser_call_hears_the_agent_gets_captions_of_both_sides_and_is_finalized_as_a_web_call() -> None:
    recorder = OneUseLifecycle(agent_config={"welcome_message": "Hello there."})

    async def scenario() -> WebPeer:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            peer = await WebPeer.connect(offer_url(url), 21, token(21), http)
            await peer.wait_for(lambda: any(e["role"] == "assistant" and e["final"] for e in peer.events("caption")))
            await peer.wait_for(lambda: peer.first_speech_after(0) is not None)  # the welcome was heard
            await asyncio.sleep(0.5)  # the welcome's last frames reach the caller
            peer.say(speech_48k(0.6) + bytes(2 * 48000 // 2))
            await peer.wait_for(lambda: len({e["turn"] for e in peer.events("caption")
                                             if e["role"] == "assistant" and e["final"]}) >= 2)
            await peer.hang_up()
            await peer.wait_for(lambda: recorder.finalized)
            await peer.wait_for(lambda: app[STATE].streams == 0)  # released once the call's task has ended
            return peer

    peer = run(scenario())
    assert peer.events("call") == [{"type": "call", "call_id": 21}]
    assert "agent_speaking" in peer.states() and "listening" in peer.states()
    captions = [(e["role"], e["final"], e["text"]) for e in peer.events("caption") if e["final"]]
    assert captions == [("assistant", True, "Hello there."),
                        ("user", True, "I would like to book an appointment for tomorrow morning."),
                        ("assistant", True, "Sure, I can help you with that. What time suits you best?")]
    assert any(not e["final"] and e["role"] == "assistant" for e in peer.events("caption"))  # partials first
    [(call_id, result)] = recorder.finalized
    assert call_id == 21 and result.ended_by == "caller"
    assert result.conversation["channel"] == "web"
    assert [t["role"] for t in result.transcript] == ["agent", "user", "agent"]
    with wave.open(io.BytesIO(result.wav)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16000)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.abs(stereo[0::2]).max() > 1000 and np.abs(stereo[1::2]).max() > 1000  # caller left, agent right
    [metrics] = result.turn_metrics
    assert metrics["first_audio_out_ms"] >= metrics["end_of_turn_ms"]


def test_the_caller_talking_over_the_agent_stops_its_audio_and_the_transcript_keeps_what_was_played() -> None:
    long_reply = " ".join(["This is a long answer that keeps going so the caller can interrupt it."] * 6)
    recorder = OneUseLifecycle(agent_config={"welcome_message": long_reply, "is_interruption_allowed": True})

    async def scenario() -> tuple[WebPeer, float]:
        async with running_server(recorder) as (url, _app), aiohttp.ClientSession() as http:
            peer = await WebPeer.connect(offer_url(url), 22, token(22), http)
            await peer.wait_for(lambda: peer.first_speech_after(0) is not None)
            await asyncio.sleep(1.0)  # one second of the agent talking
            peer.say(speech_48k(0.8))
            await peer.wait_for(lambda: peer.events("barge_in"))
            interrupted_at = asyncio.get_running_loop().time()
            await asyncio.sleep(1.0)
            await peer.hang_up()
            await peer.wait_for(lambda: recorder.finalized)
            return peer, interrupted_at

    peer, interrupted_at = run(scenario())
    [(_, result)] = recorder.finalized
    welcome = result.transcript[0]
    assert welcome["interrupted"] is True
    assert 0 < len(welcome["text"].split()) < len(long_reply.split())
    assert long_reply.startswith(welcome["text"])
    # After the barge-in the agent is silent (the frames in flight drain within a few frames) until it answers
    # the caller's words, which needs the end of their turn (0.5 s of silence after 0.8 s of speech).
    assert [f for f in peer.frames if interrupted_at + 0.3 < f.at < interrupted_at + 0.8 and f.rms > 300] == []
    states = peer.states()
    assert "listening" in states[states.index("agent_speaking") + 1:]  # back to listening after the barge-in


@pytest.mark.parametrize(("case", "status", "error"), [
    ("forged", 401, "invalid_token"), ("other_call", 401, "invalid_token"), ("expired", 401, "invalid_token"),
    ("no_audio", 400, "bad_offer"), ("not_sdp", 400, "bad_offer"), ("no_opus", 400, "bad_offer"),
    ("not_json", 400, "bad_request"), ("huge", 413, "payload_too_large")])
def test_bad_offers_get_a_clear_json_error_and_nothing_is_admitted(case: str, status: int, error: str) -> None:
    recorder = OneUseLifecycle()
    good = token(23)
    sdp_audio = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n" \
                "a=rtpmap:0 PCMU/8000\r\n"
    bodies: dict[str, object] = {
        "forged": {"call_id": 23, "token": good[:-2] + "xx", "sdp": "v=0"},
        "other_call": {"call_id": 24, "token": good, "sdp": "v=0"},
        "expired": {"call_id": 23, "token": stream_tokens.issue(SECRET, 3, 23, ttl_seconds=-1), "sdp": "v=0"},
        "no_audio": {"call_id": 23, "token": good, "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"},
        "not_sdp": {"call_id": 23, "token": good, "sdp": "hello"},
        "no_opus": {"call_id": 23, "token": good, "sdp": sdp_audio},
        "not_json": "{not json",
        "huge": {"call_id": 23, "token": good, "sdp": "v=0\r\n" + "a=x\r\n" * 20000},
    }

    async def scenario() -> tuple[int, dict, dict]:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            body = bodies[case]
            data = body if isinstance(body, str) else None
            async with http.post(offer_url(url), json=None if data else body, data=data) as response:
                return response.status, await response.json(), dict(response.headers)

    got_status, body, headers = run(scenario())
    assert (got_status, body["error"]) == (status, error)
    assert body["error_description"]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert recorder.started == [] and recorder.finalized == []


def test_a_token_works_once() -> None:
    recorder = OneUseLifecycle()

    async def scenario() -> OfferRefused:
        async with running_server(recorder) as (url, _app), aiohttp.ClientSession() as http:
            once = token(25)
            peer = await WebPeer.connect(offer_url(url), 25, once, http)
            with pytest.raises(OfferRefused) as refused:
                await WebPeer.connect(offer_url(url), 25, once, http)
            await peer.hang_up()
            await peer.wait_for(lambda: recorder.finalized)
            return refused.value

    refused = run(scenario())
    assert refused.status == 401 and refused.body["error"] == "invalid_token"


@pytest.mark.parametrize("limit", ["max_streams", "max_web_calls"])
def test_cors_preflight_and_a_full_server_answer_busy(limit: str) -> None:
    recorder = OneUseLifecycle()
    settings = dataclasses.replace(INSTANT, **{limit: 0})

    async def scenario() -> tuple[int, dict, int, dict]:
        async with running_server(recorder, settings=settings) as (url, _app), aiohttp.ClientSession() as http:
            async with http.options(offer_url(url), headers={"Origin": "http://127.0.0.1:8600",
                                                             "Access-Control-Request-Method": "POST"}) as pre:
                pre_status, pre_headers = pre.status, dict(pre.headers)
            try:
                await WebPeer.connect(offer_url(url), 26, token(26), http)
            except OfferRefused as refused:
                return pre_status, pre_headers, refused.status, refused.body
            raise AssertionError("a full server took the call")

    pre_status, pre_headers, status, body = run(scenario())
    assert pre_status == 204 and pre_headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert status == 503 and body["error"] == "busy"


@dataclass
class UnreachableRecords(RecordingLifecycle):
    """The call records cannot be reached (DynamoDB throttled or down)."""

    def admit(self, call_id: str, token: str, stream_sid: str, secret: str) -> Admission:
        raise ConnectionError("DynamoDB unreachable")


def test_an_offer_that_cannot_be_admitted_for_an_outage_gets_a_json_503_not_a_500() -> None:
    recorder = UnreachableRecords()

    async def scenario() -> OfferRefused:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            with pytest.raises(OfferRefused) as refused:
                await WebPeer.connect(offer_url(url), 27, token(27), http)
            assert app[STATE].streams == 0
            return refused.value

    refused = run(scenario())
    assert refused.status == 503 and refused.body["error"] == "unavailable"


def test_a_supervisor_ending_a_web_call_hangs_up_the_peer_and_the_call_is_finalized() -> None:
    """The agent's hang-up closes the peer connection from a task the session cancels when the media ends; the
    close must still complete (a close cancelled halfway used to leave every later close waiting forever)."""
    recorder = OneUseLifecycle(agent_config={"welcome_message": "Hello there."})
    monitor = MonitorHub(publisher=MonitorPublisher(object(), load=lambda _account: [], post=lambda *_a: True),
                         task_id="task-test")

    async def scenario() -> None:
        async with running_server(recorder, monitor=monitor) as (url, app), aiohttp.ClientSession() as http:
            peer = await WebPeer.connect(offer_url(url), 28, token(28), http)
            await peer.wait_for(lambda: peer.first_speech_after(0) is not None)
            monitor.on_note({"type": "control", "account_id": 3, "call_id": 28, "control": {"type": "end_call"}})
            await peer.wait_for(lambda: recorder.finalized)
            await peer.wait_for(lambda: app[STATE].streams == 0)
            await peer.close()

    run(scenario())
    [(_, result)] = recorder.finalized
    assert result.ended_by == "supervisor"
