"""The ``value`` objects of ``calls`` webhooks (docs/whatsapp-calls.md, section 2)."""
from __future__ import annotations

import time
from typing import Any

from devstack.whatsapp_sim.calls import SimCall
from devstack.whatsapp_sim.webhooks import base_value


def _timestamp(at: float | None = None) -> str:
    return str(int(at if at is not None else time.time()))


def _call_base(call: SimCall, event: str) -> dict[str, Any]:
    user_initiated = call.direction == "USER_INITIATED"
    data: dict[str, Any] = {
        "id": call.id,
        "from": call.user_wa_id if user_initiated else call.number.digits,
        "to": call.number.digits if user_initiated else call.user_wa_id,
        "event": event, "timestamp": _timestamp(), "direction": call.direction}
    if call.biz_opaque_callback_data is not None:
        data["biz_opaque_callback_data"] = call.biz_opaque_callback_data
    return data


def _with_contacts(call: SimCall, value: dict[str, Any]) -> dict[str, Any]:
    contact: dict[str, Any] = {"wa_id": call.user_wa_id}
    if call.user_name:
        contact["profile"] = {"name": call.user_name}
    return {**value, "contacts": [contact]}


def connect(call: SimCall, sdp_type: str, sdp: str) -> dict[str, Any]:
    """``connect``: the user's offer (USER_INITIATED) or answer (BUSINESS_INITIATED)."""
    data = {**_call_base(call, "connect"), "session": {"sdp_type": sdp_type, "sdp": sdp}}
    return _with_contacts(call, {**base_value(call.number), "calls": [data]})


def terminate(call: SimCall, status: str) -> dict[str, Any]:
    """``terminate`` with WhatsApp's status (COMPLETED, FAILED, REJECTED) and, once answered, the duration."""
    data: dict[str, Any] = {**_call_base(call, "terminate"), "status": status}
    if call.accepted_at is not None and call.ended_at is not None:
        data.update(start_time=_timestamp(call.accepted_at), end_time=_timestamp(call.ended_at),
                    duration=max(0, round(call.ended_at - call.accepted_at)))
    return _with_contacts(call, {**base_value(call.number), "calls": [data]})


def status(call: SimCall, state: str) -> dict[str, Any]:
    """A ``statuses`` entry of type ``call``: RINGING, ACCEPTED or REJECTED."""
    data: dict[str, Any] = {"id": call.id, "timestamp": _timestamp(), "type": "call", "status": state,
                            "recipient_id": call.user_wa_id}
    if call.biz_opaque_callback_data is not None:
        data["biz_opaque_callback_data"] = call.biz_opaque_callback_data
    return {**base_value(call.number), "statuses": [data]}
