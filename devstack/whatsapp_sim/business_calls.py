"""A business rings a user (BUSINESS_INITIATED): Graph ``connect`` with the business's offer, then webhooks:
status RINGING, and as the user does (``PUT /sim/whatsapp/users/{wa_id}``) ``connect`` with the user's answer and
status ACCEPTED, or status REJECTED and ``terminate`` REJECTED, or nothing until the ring timeout."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from devstack.whatsapp_sim import graph_errors, payloads
from devstack.whatsapp_sim import sdp as sdp_rules
from devstack.whatsapp_sim.calls import SimCall
from devstack.whatsapp_sim.models import CallActionBody
from devstack.whatsapp_sim.registry import Number, User
from devstack.whatsapp_sim.simulator import WhatsAppSimulator
from devstack.whatsapp_sim.user_peer import SdpRefused, UserPeer


def connect(sim: WhatsAppSimulator, number: Number, body: CallActionBody) -> dict[str, Any]:
    if not body.to:
        raise graph_errors.invalid_parameter("connect needs to (the user's phone number)")
    if body.session is None or body.session.sdp_type != "offer":
        raise graph_errors.invalid_parameter('connect needs session {"sdp_type": "offer", "sdp"}')
    problems = sdp_rules.problems(body.session.sdp, offer=True)
    if problems:
        raise graph_errors.invalid_parameter("SDP validation error: " + "; ".join(problems))
    user_wa_id = body.to.lstrip("+")
    if not sim.registry.permission(number.phone_number_id, user_wa_id).allows_call(time.time()):
        raise graph_errors.no_call_permission(user_wa_id)
    user = sim.registry.user(user_wa_id)
    call = SimCall("BUSINESS_INITIATED", number, user_wa_id, user.script, user.name,
                   biz_opaque_callback_data=body.biz_opaque_callback_data)
    sim.calls[call.id] = call
    call.graph_event("connect", 200)
    sim.spawn(_ring(sim, call, user, body.session.sdp))
    sim.spawn(sim.watch_ring(call))
    return {"messaging_product": "whatsapp", "calls": [{"id": call.id}]}


async def _ring(sim: WhatsAppSimulator, call: SimCall, user: User, offer: str) -> None:
    await sim.send(call, payloads.status(call, "RINGING"), "status:RINGING")
    if user.answer == "ignore":
        return  # rings until the business terminates or the ring timeout
    try:  # the phone rings this long before the user acts (ended early if the business hangs up)
        await asyncio.wait_for(call.ended.wait(), user.answer_after_s)
        return
    except TimeoutError:
        pass
    if user.answer == "reject":
        await sim.send(call, payloads.status(call, "REJECTED"), "status:REJECTED")
        await sim.end(call, by="user", status="rejected", webhook_status="REJECTED")
        return
    call.status = "connecting"
    call.peer = UserPeer()
    try:
        answer = await call.peer.answer(offer)
    except (SdpRefused, ValueError) as exc:  # aiortc raises ValueError for descriptions it cannot apply
        await sim.end(call, by="user", status="failed", webhook_status="FAILED", error=f"offer refused: {exc}")
        return
    if call.is_over:
        return
    await sim.send(call, payloads.connect(call, "answer", answer), "connect")
    if call.is_over:
        return
    sim.accepted(call, time.time())
    await sim.send(call, payloads.status(call, "ACCEPTED"), "status:ACCEPTED")

