"""A web call on the local stack, as the widget makes it, with a scripted WebRTC peer in place of the browser:
public key -> ``POST /web-calls`` (origin checked) -> ``/web/offer`` -> a spoken conversation with the real
offline engines -> the call log holds it like any call (channel web, transcript, 16 kHz recording, metrics,
post-call analysis). The same flow in a real Chromium is ``tests/browser``."""
from __future__ import annotations

import asyncio
import io
import re
import time
import wave

import aiohttp
import pytest
import requests

from devstack.web_peer import OfferRefused, WebPeer

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ORIGIN = "http://127.0.0.1:8600"
WELCOME = "Hello, thank you for calling Parley Bakery."
QUESTION = "What time do you open tomorrow morning?"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def api(stack: dict, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or stack['api_key']}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{stack['api_url']}{path}", headers=headers, timeout=10, **kwargs)


async def question_48k() -> bytes:
    from devstack.carrier_sim.caller_voice import CallerVoice
    from devstack.media_client import SAMPLE_RATE, resample

    return resample(await CallerVoice().phrase(QUESTION), SAMPLE_RATE, 48000)


def test_a_web_call_is_a_spoken_conversation_logged_like_any_call(local_stack: dict) -> None:
    agent = api(local_stack, "POST", "/agents/create", json={
        "name": "Bakery web", "welcome_message": WELCOME,
        "context_breakdown": [{"title": "Role", "body": "You answer questions for Parley Bakery. The bakery opens "
                                                        "at seven in the morning and closes at six in the evening."}],
        "web_widget": {"enabled": True, "allowed_origins": [ORIGIN]}}).json()
    agent_id = agent["id"]
    public_key = api(local_stack, "GET", f"/agents/{agent_id}").json()["web_widget"]["public_key"]
    assert public_key.startswith("pub_")

    created = api(local_stack, "POST", "/web-calls", key=public_key, headers={"Origin": ORIGIN},
                  json={"agent_id": agent_id, "call_context": {"customer_name": "Ada"}})
    assert created.status_code == 201, created.text
    web_call = created.json()

    async def converse() -> WebPeer:
        async with aiohttp.ClientSession() as http:
            peer = await WebPeer.connect(web_call["offer_url"], web_call["call_id"], web_call["token"], http)
            await peer.wait_for(lambda: any(e["role"] == "assistant" and e["final"] for e in peer.events("caption")),
                                timeout=60)
            peer.say(await question_48k())
            await peer.wait_for(lambda: any(e["role"] == "user" and e["final"] for e in peer.events("caption")),
                                timeout=60)
            await peer.wait_for(lambda: sum(e["role"] == "assistant" and e["final"]
                                            for e in peer.events("caption")) >= 2, timeout=90)
            await peer.hang_up()
            return peer

    peer = asyncio.run(asyncio.wait_for(converse(), 240))
    heard = " ".join(e["text"] for e in peer.events("caption") if e["role"] == "user" and e["final"])
    assert {"open", "tomorrow"} <= words(heard), heard

    deadline = time.monotonic() + 180
    log: dict = {}
    while time.monotonic() < deadline:
        log = api(local_stack, "GET", f"/calls/logs/{web_call['call_id']}").json()
        if log.get("call_status") == "completed" and log.get("transcript") is not None:
            break
        time.sleep(1)
    assert log.get("call_status") == "completed", log
    assert log["channel"] == "web"
    assert log["conversation"]["ended_by"] == "caller" and not log["conversation"]["errors"], log["conversation"]
    turns = log["transcript"]
    assert turns[0]["text"] == WELCOME and any(t["role"] == "user" for t in turns)
    assert log["turn_metrics"] and log["turn_metrics"][0]["first_audio_out_ms"] is not None
    recording = requests.get(log["recording_url"], timeout=10)
    with wave.open(io.BytesIO(recording.content), "rb") as stereo:
        assert (stereo.getnchannels(), stereo.getframerate()) == (2, 16000)
        assert stereo.getnframes() / 16000 > 3

    # The token was for one offer: a second one is refused.
    async def replay() -> OfferRefused:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(OfferRefused) as refused:
                await WebPeer.connect(web_call["offer_url"], web_call["call_id"], web_call["token"], http)
            return refused.value

    refused = asyncio.run(replay())
    assert refused.status == 401 and refused.body["error"] == "invalid_token"


def test_a_page_on_another_origin_cannot_start_a_web_call(local_stack: dict) -> None:
    agent = api(local_stack, "POST", "/agents/create", json={
        "name": "Origin check", "welcome_message": "Hi.", "context_breakdown": [{"title": "Role", "body": "Greet."}],
        "web_widget": {"enabled": True, "allowed_origins": [ORIGIN]}}).json()
    key = api(local_stack, "GET", f"/agents/{agent['id']}").json()["web_widget"]["public_key"]
    refused = api(local_stack, "POST", "/web-calls", key=key, headers={"Origin": "https://evil.example"},
                  json={"agent_id": agent["id"]})
    assert refused.status_code == 403 and refused.json()["error"] == "origin_not_allowed"
