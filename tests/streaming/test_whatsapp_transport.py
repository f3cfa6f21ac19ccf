"""WhatsApp calls end to end on the streaming service (docs/whatsapp-calls.md section 5): the API's requests over
HTTP to the real aiohttp app, an aiortc peer playing WhatsApp's media server (real ICE, DTLS-SRTP and Opus on this
machine), controls delivered through the monitoring hub as the task link delivers them, instant engines."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection

from chalicelib.domain.call_media import Admission
from chalicelib.telephony import stream_tokens
from streaming.monitoring.hub import MonitorHub
from streaming.monitoring.publisher import MonitorPublisher
from streaming.server import STATE
from streaming.settings import StreamingSettings
from streaming.transports import whatsapp_signaling
from streaming.transports.whatsapp import WhatsAppCall
from streaming.transports.whatsapp_sdp import fingerprint_algorithms, for_whatsapp, media_kinds
from tests.streaming.harness import INSTANT, SECRET, RecordingLifecycle, running_server, tone
from tests.streaming.whatsapp_peer import WhatsAppMedia, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ACCOUNT = 3
TASK = "task-test"


@dataclass
class WhatsAppLifecycle(RecordingLifecycle):
    """Also records the streams admitted, the task holding a ringing call and the hang-ups asked of WhatsApp."""

    admitted: list[str] = field(default_factory=list)
    held_by: list[tuple[int, int, str]] = field(default_factory=list)
    carrier_hang_ups: list[int] = field(default_factory=list)

    def admit(self, call_id: str, token: str, stream_sid: str, secret: str) -> Admission:
        admission = super().admit(call_id, token, stream_sid, secret)
        self.admitted.append(stream_sid)
        return admission

    def hold(self, account_id: int, call_id: int, task_id: str) -> None:
        self.held_by.append((account_id, call_id, task_id))

    def hang_up_carrier(self, admission: Admission) -> None:
        self.carrier_hang_ups.append(admission.call_id)

    def lifecycle(self) -> Any:
        return dataclasses.replace(super().lifecycle(), hold=self.hold, hang_up_carrier=self.hang_up_carrier)


def hub() -> MonitorHub:
    """The task's monitoring hub, its publisher posting nowhere (no watchers)."""
    return MonitorHub(publisher=MonitorPublisher(object(), load=lambda _account: [], post=lambda *_a: True),
                      task_id=TASK)


def control(monitor: MonitorHub, call_id: int, body: dict[str, Any]) -> None:
    """A control as the monitoring link delivers it (``chalicelib.monitoring.controls.send``'s note)."""
    monitor.on_note({"type": "control", "id": "n1", "account_id": ACCOUNT, "call_id": call_id, "control": body,
                     "requested_at": time.time()})


def token(call_id: int) -> str:
    return stream_tokens.issue(SECRET, ACCOUNT, call_id, ttl_seconds=60)


def http_url(ws_url: str, path: str) -> str:
    return ws_url.replace("ws://", "http://") + path


async def post(http: aiohttp.ClientSession, url: str, path: str, body: Any) -> tuple[int, dict[str, Any], Any]:
    data = body if isinstance(body, str) else None
    async with http.post(http_url(url, path), json=None if data else body, data=data) as response:
        return response.status, await response.json(), response.headers


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def settled(app: web.Application) -> None:
    """The call's tasks are over: its slot released, the hang-up (if any) asked."""
    state = app[STATE]
    await wait_for(lambda: state.streams == 0 and not state.background and not state.finalizing)


def rtpmaps(sdp: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in sdp.splitlines() if line.startswith("a=rtpmap:")]


async def converse(media: WhatsAppMedia) -> None:
    """The welcome is heard, the user speaks, the agent's reply is heard."""
    await wait_for(lambda: media.speech_after(0) is not None)
    await wait_for(lambda: media.quiet_for(0.4))  # the welcome is over
    media.say(tone(0.6, rate=48000) + bytes(2 * 48000 // 2))
    await wait_for(lambda: media.said_everything() is not None)
    spoke_at = media.said_everything()
    assert spoke_at is not None
    await wait_for(lambda: media.speech_after(spoke_at) is not None)


# ---------------------------------------------------------------- a user calls the business


def test_a_user_call_is_answered_with_sha256_audio_only_converses_and_ends_as_the_callers_on_caller_hung_up() -> None:
    recorder = WhatsAppLifecycle(agent_config={"welcome_message": "Hello there."})
    monitor = hub()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_server(recorder, monitor=monitor) as (url, app), aiohttp.ClientSession() as http:
            media = WhatsAppMedia()
            status, body, _ = await post(http, url, "/whatsapp/answer",
                                         {"call_id": 41, "token": token(41), "sdp": await media.offer()})
            assert status == 200, body
            await media.accept(body["sdp"])
            await converse(media)
            async with http.get(http_url(url, "/stats")) as response:
                stats = await response.json()
            control(monitor, 41, {"type": "caller_hung_up"})
            await wait_for(lambda: recorder.finalized)
            await settled(app)
            assert (ACCOUNT, 41) not in monitor.controls
            await media.close()
            return body, stats

    answer, stats = run(scenario())
    assert answer["type"] == "answer"
    assert fingerprint_algorithms(answer["sdp"]) == ["sha-256"]
    assert media_kinds(answer["sdp"]) == ["audio"] and "m=application" not in answer["sdp"]
    assert rtpmaps(answer["sdp"]) == ["opus/48000/2"]
    assert stats["whatsapp_calls"] == 1 and stats["web_calls"] == 1 and stats["counters"]["whatsapp_calls"] == 1
    [sid] = recorder.admitted
    assert sid.startswith("whatsapp-") and len(sid) == len("whatsapp-") + 16
    [(call_id, result)] = recorder.finalized
    assert call_id == 41 and result.ended_by == "caller"
    assert result.conversation["channel"] == "whatsapp"
    assert [t["role"] for t in result.transcript] == ["agent", "user", "agent"]
    assert result.transcript[1]["text"] == "I would like to book an appointment for tomorrow morning."
    assert recorder.carrier_hang_ups == []  # WhatsApp ended it: nothing to ask


@pytest.mark.parametrize("end", ["supervisor", "max_duration", "idle", "stream_dropped"])
def test_a_whatsapp_call_this_side_ends_asks_whatsapp_to_end_it_once(end: str) -> None:
    recorder = WhatsAppLifecycle(agent_config={"welcome_message": "Hello there."})
    monitor = hub()
    settings = dataclasses.replace(INSTANT, max_call_s=2.5 if end == "max_duration" else INSTANT.max_call_s,
                                   idle_timeout_s=1.0 if end == "idle" else INSTANT.idle_timeout_s)

    async def scenario() -> None:
        async with running_server(recorder, settings=settings, monitor=monitor) as (url, app), \
                aiohttp.ClientSession() as http:
            media = WhatsAppMedia()
            status, body, _ = await post(http, url, "/whatsapp/answer",
                                         {"call_id": 42, "token": token(42), "sdp": await media.offer()})
            assert status == 200, body
            await media.accept(body["sdp"])
            await wait_for(lambda: media.speech_after(0) is not None)
            if end == "supervisor":
                control(monitor, 42, {"type": "end_call"})
            elif end == "idle":
                media.mic.stop()  # WhatsApp's media stops coming
            elif end == "stream_dropped":
                await media.close()
            await wait_for(lambda: recorder.finalized)
            await settled(app)
            await media.close()

    run(scenario())
    [(_, result)] = recorder.finalized
    assert result.ended_by == end
    assert recorder.carrier_hang_ups == [42]


# ---------------------------------------------------------------- the business calls a user


@dataclass
class Made:
    """The WhatsApp calls the offer endpoint made (to look at their peer connections afterwards)."""

    calls: list[WhatsAppCall] = field(default_factory=list)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    seen = Made()

    class Recorded(WhatsAppCall):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.calls.append(self)

    monkeypatch.setattr(whatsapp_signaling, "WhatsAppCall", Recorded)
    return seen


@pytest.mark.parametrize("rings_s", [0.0, 1.5])
def test_a_business_call_offers_sha256_opus_audio_rings_and_runs_once_the_answer_arrives_as_a_control(
        rings_s: float, made: Made) -> None:
    recorder = WhatsAppLifecycle(agent_config={"welcome_message": "Hello there."})
    monitor = hub()
    settings = dataclasses.replace(INSTANT, idle_timeout_s=1.0)  # a ring longer than it is not the call being idle

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running_server(recorder, settings=settings, monitor=monitor) as (url, app), \
                aiohttp.ClientSession() as http:
            status, offer, _ = await post(http, url, "/whatsapp/offer", {"call_id": 51, "token": token(51)})
            assert status == 200, offer
            assert (ACCOUNT, 51) in monitor.controls and (ACCOUNT, 51) in app[STATE].ringing
            assert recorder.held_by == [(ACCOUNT, 51, TASK)] and recorder.admitted == []
            async with http.get(http_url(url, "/stats")) as response:
                ringing_stats = await response.json()
            media = WhatsAppMedia()
            answer = await media.answer(offer["sdp"])
            await asyncio.sleep(rings_s)  # the scenario: the user lets the phone ring this long
            control(monitor, 51, {"type": "whatsapp_answer", "sdp": answer})
            await converse(media)
            control(monitor, 51, {"type": "caller_hung_up"})
            await wait_for(lambda: recorder.finalized)
            await settled(app)
            await media.close()
            return offer, ringing_stats

    offer, ringing_stats = run(scenario())
    assert offer["type"] == "offer"
    assert fingerprint_algorithms(offer["sdp"]) == ["sha-256"]
    assert media_kinds(offer["sdp"]) == ["audio"] and rtpmaps(offer["sdp"]) == ["opus/48000/2"]
    assert "a=setup:actpass" in offer["sdp"] and "a=candidate:" in offer["sdp"]  # gathered: no trickle
    assert ringing_stats["whatsapp_ringing"] == 1 and ringing_stats["whatsapp_calls"] == 1
    assert ringing_stats["open_streams"] == 1  # a ringing offer holds its place
    [sid] = recorder.admitted
    assert sid.startswith("whatsapp-")
    [(call_id, result)] = recorder.finalized
    assert call_id == 51 and result.ended_by == "caller" and result.conversation["channel"] == "whatsapp"
    assert [t["role"] for t in result.transcript] == ["agent", "user", "agent"]
    assert recorder.carrier_hang_ups == []
    [call] = made.calls
    assert call.pc.connectionState == "closed"


@pytest.mark.parametrize("outcome", ["ring_timeout", "declined"])
def test_an_offer_nobody_answers_is_dropped_closing_its_peer_connection_and_admitting_nothing(
        outcome: str, made: Made) -> None:
    recorder = WhatsAppLifecycle()
    monitor = hub()
    settings = dataclasses.replace(INSTANT, whatsapp_ring_timeout_s=0.5 if outcome == "ring_timeout" else 30.0)

    async def scenario() -> Counter[str]:
        async with running_server(recorder, settings=settings, monitor=monitor) as (url, app), \
                aiohttp.ClientSession() as http:
            status, offer, _ = await post(http, url, "/whatsapp/offer", {"call_id": 52, "token": token(52)})
            assert status == 200, offer
            if outcome == "declined":
                control(monitor, 52, {"type": "caller_hung_up"})
            await settled(app)
            assert app[STATE].ringing == {} and (ACCOUNT, 52) not in monitor.controls
            assert app[STATE].whatsapp_calls == 0 and app[STATE].web_calls == 0
            control(monitor, 52, {"type": "whatsapp_answer", "sdp": "v=0"})  # too late: nobody takes it
            return app[STATE].counters.copy()

    counters = run(scenario())
    [call] = made.calls
    assert call.pc.connectionState == "closed"
    assert recorder.admitted == [] and recorder.started == [] and recorder.finalized == []
    assert recorder.carrier_hang_ups == []
    expected = "whatsapp_ring_timeouts" if outcome == "ring_timeout" else "whatsapp_offers_dropped"
    assert counters[expected] == 1 and counters["errors"] == 0


# ---------------------------------------------------------------- bad input


PCMU_ONLY = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
             "a=rtpmap:0 PCMU/8000\r\n")


@pytest.mark.parametrize(("path", "case", "status", "error"), [
    ("/whatsapp/answer", "forged", 401, "invalid_token"), ("/whatsapp/answer", "not_sdp", 400, "bad_offer"),
    ("/whatsapp/answer", "no_opus", 400, "bad_offer"), ("/whatsapp/answer", "no_sdp", 400, "bad_offer"),
    ("/whatsapp/answer", "not_json", 400, "bad_request"), ("/whatsapp/offer", "forged", 401, "invalid_token"),
    ("/whatsapp/offer", "other_call", 401, "invalid_token")])
def test_bad_requests_get_a_json_error_and_nothing_is_admitted(path: str, case: str, status: int, error: str) -> None:
    recorder = WhatsAppLifecycle()
    good = token(61)
    bodies: dict[str, Any] = {
        "forged": {"call_id": 61, "token": good[:-2] + "xx", "sdp": PCMU_ONLY},
        "other_call": {"call_id": 62, "token": good},
        "not_sdp": {"call_id": 61, "token": good, "sdp": "hello"},
        "no_opus": {"call_id": 61, "token": good, "sdp": PCMU_ONLY},
        "no_sdp": {"call_id": 61, "token": good},
        "not_json": "{not json",
    }

    async def scenario() -> tuple[int, dict[str, Any], Any]:
        async with running_server(recorder, monitor=hub()) as (url, app), aiohttp.ClientSession() as http:
            answer = await post(http, url, path, bodies[case])
            assert app[STATE].streams == 0 and app[STATE].ringing == {}
            return answer

    got_status, body, headers = run(scenario())
    assert (got_status, body["error"]) == (status, error) and body["error_description"]
    assert "Access-Control-Allow-Origin" not in headers  # server to server: no CORS
    assert recorder.admitted == [] and recorder.held_by == [] and recorder.finalized == []


@pytest.mark.parametrize("sdp", ["garbage", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"])
def test_an_answer_that_cannot_be_applied_drops_the_ringing_call_cleanly(sdp: str, made: Made) -> None:
    recorder = WhatsAppLifecycle()
    monitor = hub()

    async def scenario() -> Counter[str]:
        async with running_server(recorder, monitor=monitor) as (url, app), aiohttp.ClientSession() as http:
            status, offer, _ = await post(http, url, "/whatsapp/offer", {"call_id": 63, "token": token(63)})
            assert status == 200, offer
            control(monitor, 63, {"type": "whatsapp_answer", "sdp": sdp})
            await settled(app)
            assert app[STATE].ringing == {} and (ACCOUNT, 63) not in monitor.controls
            return app[STATE].counters.copy()

    counters = run(scenario())
    assert counters["whatsapp_bad_answers"] == 1 and counters["errors"] == 0
    assert recorder.admitted == [] and recorder.finalized == []
    [call] = made.calls
    assert call.pc.connectionState == "closed"


def test_a_second_offer_for_a_ringing_call_is_refused_and_an_offer_needs_the_monitoring_link() -> None:
    recorder = WhatsAppLifecycle()

    async def scenario() -> tuple[tuple[int, dict[str, Any], Any], tuple[int, dict[str, Any], Any]]:
        async with running_server(recorder, monitor=hub()) as (url, app), aiohttp.ClientSession() as http:
            first = await post(http, url, "/whatsapp/offer", {"call_id": 64, "token": token(64)})
            assert first[0] == 200
            second = await post(http, url, "/whatsapp/offer", {"call_id": 64, "token": token(64)})
            assert app[STATE].streams == 1  # the first still rings; the second left nothing behind
        no_link = dataclasses.replace(INSTANT)
        async with running_server(recorder, settings=no_link) as (url, app), aiohttp.ClientSession() as http:
            unlinked = await post(http, url, "/whatsapp/offer", {"call_id": 65, "token": token(65)})
            assert app[STATE].streams == 0
        return second, unlinked

    second, unlinked = run(scenario())
    assert (second[0], second[1]["error"]) == (409, "offer_pending")
    assert (unlinked[0], unlinked[1]["error"]) == (503, "not_configured")


def test_full_servers_refuse_whatsapp_calls_busy() -> None:
    recorder = WhatsAppLifecycle()
    full: StreamingSettings = dataclasses.replace(INSTANT, max_web_calls=0)

    async def scenario() -> list[tuple[int, dict[str, Any], Any]]:
        async with running_server(recorder, settings=full, monitor=hub()) as (url, _app), \
                aiohttp.ClientSession() as http:
            media = WhatsAppMedia()
            answered = await post(http, url, "/whatsapp/answer",
                                  {"call_id": 66, "token": token(66), "sdp": await media.offer()})
            offered = await post(http, url, "/whatsapp/offer", {"call_id": 67, "token": token(67)})
            await media.close()
            return [answered, offered]

    for status, body, headers in run(scenario()):
        assert (status, body["error"], headers["Retry-After"]) == (503, "busy", "1")


# ---------------------------------------------------------------- the SDP WhatsApp takes


def test_sdp_for_whatsapp_keeps_the_audio_and_the_sha256_fingerprint_only() -> None:
    async def browser_like_offer() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="sendrecv")
        pc.createDataChannel("parley")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
        await pc.close()
        return sdp

    sdp = run(browser_like_offer())
    assert media_kinds(sdp) == ["audio", "application"]
    assert fingerprint_algorithms(sdp) == ["sha-256", "sha-384", "sha-512"] * 2
    filtered = for_whatsapp(sdp)
    assert media_kinds(filtered) == ["audio"] and fingerprint_algorithms(filtered) == ["sha-256"]
    assert "a=group:BUNDLE 0\r\n" in filtered and filtered.endswith("\r\n")
    audio = sdp[sdp.index("m=audio"):sdp.index("m=application")]
    kept = [line for line in audio.splitlines() if not line.startswith("a=fingerprint:sha-") or "sha-256" in line]
    assert filtered.endswith("\r\n".join(kept) + "\r\n")  # the audio section is otherwise untouched
    with pytest.raises(ValueError):
        for_whatsapp(sdp.replace("a=fingerprint:sha-256", "a=fingerprint:sha-1"))
    with pytest.raises(ValueError):
        for_whatsapp(sdp[:sdp.index("m=audio")] + sdp[sdp.index("m=application"):])
