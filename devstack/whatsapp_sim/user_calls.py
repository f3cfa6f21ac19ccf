"""A user rings a business (USER_INITIATED): the user's offer goes out in a ``connect`` webhook, and the
business answers with Graph ``pre_accept`` / ``accept`` (or ``reject``)."""
from __future__ import annotations

import time

from devstack.whatsapp_sim import graph_errors, payloads
from devstack.whatsapp_sim.calls import SimCall
from devstack.whatsapp_sim.models import CallActionBody, StartCallBody, script_steps
from devstack.whatsapp_sim.registry import Number
from devstack.whatsapp_sim.script import prefetch
from devstack.whatsapp_sim.simulator import SimError, WhatsAppSimulator
from devstack.whatsapp_sim.user_peer import SdpRefused, UserPeer, refuse_if_foreign


async def ring_business(sim: WhatsAppSimulator, body: StartCallBody) -> SimCall:
    """``POST /sim/whatsapp/calls``: the user calls the business number."""
    number = sim.registry.numbers.get(body.phone_number_id)
    if number is None:
        raise SimError(404, "unknown_number", f"no number {body.phone_number_id}; PUT /sim/whatsapp/numbers/"
                                               f"{body.phone_number_id} first")
    call = SimCall("USER_INITIATED", number, body.from_.lstrip("+"), script_steps(body.script), body.name)
    call.peer = UserPeer()
    offer = await call.peer.offer()
    sim.calls[call.id] = call
    prefetch(sim.voice, call.script)
    sim.spawn(_send_offer(sim, call, offer))
    sim.spawn(sim.watch_ring(call))
    return call


async def _send_offer(sim: WhatsAppSimulator, call: SimCall, offer: str) -> None:
    status = await sim.send(call, payloads.connect(call, "offer", offer), "connect")
    if status is None or not 200 <= status < 300:  # the business never took the call
        await sim.end(call, by="sim", status="failed", webhook_status="FAILED",
                      error=f"the connect webhook was not accepted (last status {status})")


async def answer(sim: WhatsAppSimulator, number: Number, body: CallActionBody) -> None:
    """``pre_accept`` or ``accept`` with the business's answer (``accept`` first is allowed, as Meta allows)."""
    call = sim.call_for(number, body.call_id)
    if call.direction != "USER_INITIATED":
        raise graph_errors.invalid_parameter(f"{body.action} is only for user-initiated calls")
    if call.is_over:
        raise graph_errors.invalid_parameter(f"call {call.id} has already ended")
    if call.accepted_at is not None:
        raise graph_errors.invalid_parameter(f"call {call.id} is already accepted")
    if body.session is None or body.session.sdp_type != "answer":
        raise graph_errors.invalid_parameter(f'{body.action} needs session {{"sdp_type": "answer", "sdp"}}')
    assert call.peer is not None
    try:
        if call.peer.remote_applied:  # accept after pre_accept: the same rules apply to its answer
            refuse_if_foreign(body.session.sdp, offer=False)
        else:
            await call.peer.apply_answer(body.session.sdp)
    except (SdpRefused, ValueError) as exc:  # aiortc raises ValueError for descriptions it cannot apply
        reason = f"SDP validation error: {exc}"
        sim.spawn(sim.end(call, by="user", status="failed", webhook_status="FAILED", error=reason))
        raise graph_errors.invalid_parameter(reason) from exc
    if body.action == "accept":
        sim.accepted(call, time.time())
    else:
        call.status = "connecting"


async def reject(sim: WhatsAppSimulator, number: Number, body: CallActionBody) -> None:
    call = sim.call_for(number, body.call_id)
    if call.direction != "USER_INITIATED" or call.accepted_at is not None or call.is_over:
        raise graph_errors.invalid_parameter(f"call {call.id} cannot be rejected now ({call.status})")
    sim.spawn(sim.end(call, by="business", status="rejected", webhook_status="REJECTED"))
