"""Calls through the simulator against a tiny aiortc business: WhatsApp's SDP rules (only sha-256 fingerprints,
no data channel), and full media exchanges both ways with the webhooks Meta sends."""
from __future__ import annotations

import asyncio
import io
import json
import wave

import numpy as np
import requests

from devstack.whatsapp_sim.server import SimServer
from tests.post_call.receivers import Receiver, serve
from tests.whatsapp_sim.business import (
    PHONE_NUMBER_ID,
    USER,
    BusinessPeer,
    eventually,
    fingerprints,
    first,
    graph,
    register,
    sha256_only,
    wait_for,
)

SCRIPT = [{"wait_agent": {"silence": 0.5, "timeout": 15}}, {"say": "Hello, I would like a table for two tonight."},
          {"pause": 0.3}, {"hang_up": True}]


def ring(sim: SimServer, script: list[dict]) -> str:
    placed = requests.post(f"{sim.url}/sim/whatsapp/calls", timeout=10, json={
        "phone_number_id": PHONE_NUMBER_ID, "from": USER, "name": "Ada", "script": script})
    assert placed.status_code == 201, placed.text
    return str(placed.json()["call_id"])


def sim_call(sim: SimServer, call_id: str) -> dict:
    return dict(requests.get(f"{sim.url}/sim/whatsapp/calls/{call_id}", timeout=5).json())


def offer_of(receiver: Receiver, call_id: str) -> str:
    connect = wait_for(lambda: first(receiver, lambda c: c["id"] == call_id and c.get("event") == "connect"), 10)
    return str(connect["session"]["sdp"])


def test_a_user_call_offers_only_sha256_fingerprints_and_no_data_channel(sim: SimServer) -> None:
    with serve(Receiver()) as receiver:
        register(sim.url, receiver.url)
        offer = offer_of(receiver, ring(sim, [{"hang_up": True}]))
    assert fingerprints(offer) == ["sha-256"]
    assert "m=audio" in offer and "opus/48000" in offer.lower() and "m=application" not in offer


def test_an_answer_with_a_sha384_fingerprint_is_refused_and_the_call_fails(sim: SimServer) -> None:
    with serve(Receiver()) as receiver:
        register(sim.url, receiver.url)
        call_id = ring(sim, SCRIPT)
        offer = offer_of(receiver, call_id)

        async def answer_with_every_fingerprint() -> tuple[str, requests.Response]:
            business = BusinessPeer()
            answer = await business.answer(offer)
            sent = await asyncio.to_thread(graph, sim.url, "POST", "/calls", json={
                "messaging_product": "whatsapp", "call_id": call_id, "action": "pre_accept",
                "session": {"sdp_type": "answer", "sdp": answer}})
            await business.pc.close()
            return answer, sent

        answer, refused = asyncio.run(answer_with_every_fingerprint())
        terminate = wait_for(lambda: first(receiver, lambda c: c.get("event") == "terminate"), 10)

    assert "sha-384" in fingerprints(answer)  # aiortc's raw answer: what Parley must filter
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == 100 and "sha-384" in error["error_data"]["details"]
    assert terminate["status"] == "FAILED" and "duration" not in terminate
    call = sim_call(sim, call_id)
    assert call["status"] == "failed" and "sha-384" in call["error"]
    assert [(e["action"], e["status_code"]) for e in call["events"] if e["kind"] == "graph"] == [("pre_accept", 400)]


def test_a_user_call_answered_by_the_business_is_a_two_way_conversation_ending_with_terminate(sim: SimServer) -> None:
    with serve(Receiver()) as receiver:
        register(sim.url, receiver.url)
        call_id = ring(sim, SCRIPT)
        offer = offer_of(receiver, call_id)

        async def business_side() -> BusinessPeer:
            business = BusinessPeer()  # the agent's greeting is queued on its microphone
            answer = sha256_only(await business.answer(offer))
            for action in ("pre_accept", "accept"):
                response = await asyncio.to_thread(graph, sim.url, "POST", "/calls", json={
                    "messaging_product": "whatsapp", "call_id": call_id, "action": action,
                    "session": {"sdp_type": "answer", "sdp": answer}})
                assert response.status_code == 200, response.text
                assert response.json() == {"messaging_product": "whatsapp", "success": True}
            await eventually(lambda: first(receiver, lambda c: c.get("event") == "terminate"), 30)
            await business.pc.close()
            return business

        business = asyncio.run(asyncio.wait_for(business_side(), 60))
        terminate = first(receiver, lambda c: c.get("event") == "terminate")

    assert terminate is not None and terminate["status"] == "COMPLETED" and terminate["id"] == call_id
    assert {"start_time", "end_time", "duration"} <= set(terminate) and terminate["duration"] >= 1
    assert business.heard.segments, "the business heard nothing from the user"
    call = sim_call(sim, call_id)
    assert (call["status"], call["ended_by"], call["direction"]) == ("completed", "user", "USER_INITIATED")
    assert [e["action"] for e in call["events"] if e["kind"] == "graph"] == ["pre_accept", "accept"]
    assert call["agent_audio_ms"] > 1000 and call["agent_speech_segments"]
    assert all(step["ok"] for step in call["steps"]), call["steps"]
    wav = requests.get(f"{sim.url}/sim/whatsapp/calls/{call_id}/agent.wav", timeout=5)
    with wave.open(io.BytesIO(wav.content), "rb") as recording:
        assert (recording.getnchannels(), recording.getframerate()) == (1, 48000)
        samples = np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2").astype(np.float32)
    assert float(np.sqrt(np.mean(samples * samples))) > 100  # the agent's voice, not silence


def test_a_business_call_to_a_user_who_accepts_rings_connects_and_ends_on_graph_terminate(sim: SimServer) -> None:
    with serve(Receiver()) as receiver:
        register(sim.url, receiver.url)
        requests.put(f"{sim.url}/sim/whatsapp/permissions/{PHONE_NUMBER_ID}/{USER}", json={"status": "granted"},
                     timeout=5).raise_for_status()
        requests.put(f"{sim.url}/sim/whatsapp/users/{USER}", timeout=5, json={
            "answer": "accept", "answer_after_s": 0.2, "name": "Ada",
            "script": [{"wait_agent": {"silence": 0.5, "timeout": 15}}, {"say": "Yes, speaking."},
                       {"pause": 30}]}).raise_for_status()

        async def business_side() -> tuple[BusinessPeer, str]:
            business = BusinessPeer()
            offer = await business.offer()
            placed = await asyncio.to_thread(graph, sim.url, "POST", "/calls", json={
                "messaging_product": "whatsapp", "to": USER, "action": "connect",
                "session": {"sdp_type": "offer", "sdp": offer}, "biz_opaque_callback_data": "call-42"})
            assert placed.status_code == 200, placed.text
            [call] = placed.json()["calls"]
            connect = await eventually(lambda: first(receiver, lambda c: c.get("event") == "connect"), 15)
            await business.apply_answer(connect["session"]["sdp"])
            await eventually(lambda: business.heard.segments, 20)  # the user said "Yes, speaking."
            ended = await asyncio.to_thread(graph, sim.url, "POST", "/calls", json={
                "messaging_product": "whatsapp", "call_id": call["id"], "action": "terminate"})
            assert ended.json() == {"messaging_product": "whatsapp", "success": True}
            await eventually(lambda: first(receiver, lambda c: c.get("event") == "terminate"), 10)
            await business.pc.close()
            return business, str(call["id"])

        _, call_id = asyncio.run(asyncio.wait_for(business_side(), 60))
        items = [item for item in (json.loads(r.body) for r in receiver.received)]

    events = [c["changes"][0]["value"] for c in (body["entry"][0] for body in items)]
    kinds = [v["statuses"][0]["status"] if "statuses" in v else v["calls"][0]["event"] for v in events]
    assert kinds == ["RINGING", "connect", "ACCEPTED", "terminate"]
    connect = events[1]["calls"][0]
    assert connect["direction"] == "BUSINESS_INITIATED" and connect["session"]["sdp_type"] == "answer"
    assert (connect["from"], connect["to"], connect["biz_opaque_callback_data"]) == ("14155550100", USER, "call-42")
    assert fingerprints(connect["session"]["sdp"]) == ["sha-256"]
    assert events[0]["statuses"][0]["recipient_id"] == USER
    terminate = events[3]["calls"][0]
    assert terminate["status"] == "COMPLETED" and "duration" in terminate
    call = sim_call(sim, call_id)
    assert (call["status"], call["ended_by"]) == ("completed", "business")
    assert [(e["action"], e["status_code"]) for e in call["events"] if e["kind"] == "graph"] == [
        ("connect", 200), ("terminate", 200)]
    assert call["agent_speech_segments"]


def test_a_user_who_rejects_a_business_call_sends_rejected_status_and_terminate(sim: SimServer) -> None:
    with serve(Receiver()) as receiver:
        register(sim.url, receiver.url)
        requests.put(f"{sim.url}/sim/whatsapp/permissions/{PHONE_NUMBER_ID}/{USER}", json={"status": "temporary"},
                     timeout=5).raise_for_status()
        requests.put(f"{sim.url}/sim/whatsapp/users/{USER}", json={"answer": "reject", "answer_after_s": 0.1},
                     timeout=5).raise_for_status()

        async def offer() -> str:
            business = BusinessPeer()
            sdp = await business.offer()
            await business.pc.close()
            return sdp

        placed = graph(sim.url, "POST", "/calls", json={
            "messaging_product": "whatsapp", "to": USER, "action": "connect",
            "session": {"sdp_type": "offer", "sdp": asyncio.run(offer())}})
        assert placed.status_code == 200, placed.text
        wait_for(lambda: first(receiver, lambda c: c.get("event") == "terminate"), 10)
        items = [item for item in (json.loads(r.body)["entry"][0]["changes"][0]["value"] for r in receiver.received)]
    kinds = [v["statuses"][0]["status"] if "statuses" in v else (v["calls"][0]["event"], v["calls"][0]["status"])
             for v in items]
    assert kinds == ["RINGING", "REJECTED", ("terminate", "REJECTED")]


def test_a_business_offer_with_other_fingerprints_is_refused(sim: SimServer) -> None:
    register(sim.url, "http://127.0.0.1:9/hooks")
    requests.put(f"{sim.url}/sim/whatsapp/permissions/{PHONE_NUMBER_ID}/{USER}", json={"status": "granted"},
                 timeout=5).raise_for_status()

    async def raw_offer() -> str:
        business = BusinessPeer()
        business.pc.addTrack(business.mic)
        await business.pc.setLocalDescription(await business.pc.createOffer())
        sdp = str(business.pc.localDescription.sdp)
        await business.pc.close()
        return sdp

    refused = graph(sim.url, "POST", "/calls", json={
        "messaging_product": "whatsapp", "to": USER, "action": "connect",
        "session": {"sdp_type": "offer", "sdp": asyncio.run(raw_offer())}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 100
    assert "sha-384" in refused.json()["error"]["error_data"]["details"]
