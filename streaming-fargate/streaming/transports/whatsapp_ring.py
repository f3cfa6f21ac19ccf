"""A business-initiated WhatsApp call between this side's offer and the user's answer (docs/whatsapp-calls.md).

The offer went to WhatsApp through the API; the user's phone rings. The answer comes back as the control
``{"type": "whatsapp_answer", "sdp"}`` through the task's monitoring link (the call's ``media_task`` names
this task: :meth:`Ring.listen` records it before the offer leaves). With the answer the call is admitted and
runs. Without one within the ring timeout (or the token's life, if shorter), on ``caller_hung_up`` (the user
declined) or when the server stops, the peer connection is closed and nothing is written. A ringing offer
holds its :class:`MediaSlot` like a running call.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from streaming.call_core import ServiceState
from streaming.monitoring.hub import MonitorHub
from streaming.transports import signaling
from streaming.transports.signaling import CallRequest, MediaSlot, Refusal
from streaming.transports.whatsapp import WhatsAppCall

log = logging.getLogger("parley.streaming.whatsapp")
TOKEN_MARGIN_S = 2.0  # admission verifies the token again: the ring ends this long before it expires
DECLINED = None  # what the answer future holds when the user declined or the server is stopping


class Ring:
    def __init__(self, state: ServiceState, hub: MonitorHub, request: CallRequest, slot: MediaSlot) -> None:
        key = (request.account_id, request.call_id)
        if key in state.ringing:
            raise Refusal(409, "offer_pending", f"call {request.call_id} already has an offer waiting for its answer")
        self.state, self.hub, self.request, self.slot, self.key = state, hub, request, slot, key
        self.call: WhatsAppCall | None = None
        self._answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._handler = self.on_control  # one object, to tell it from the handler of the call it becomes
        state.ringing[key] = self.drop

    async def listen(self) -> None:
        """Take the call's controls, and record this task as the one holding the call (blocking I/O)."""
        self.hub.controls[self.key] = self._handler
        hold = self.state.lifecycle.hold
        if hold is None:
            return
        try:
            await asyncio.to_thread(hold, self.request.account_id, self.request.call_id, self.hub.task_id)
        except Exception:
            self.state.counters["errors"] += 1
            log.exception("recording the task holding a WhatsApp offer failed")
            raise Refusal(503, "unavailable", "the call could not be held by this server; try again",
                          retry_after=1) from None

    def start(self, call: WhatsAppCall) -> None:
        """Ring (then run the call) as a task of its own."""
        self.call = call
        task = asyncio.ensure_future(self._ring_then_run(call))
        self.state.background.add(task)
        task.add_done_callback(self.state.background.discard)
        self.state.counters["whatsapp_offers"] += 1

    async def on_control(self, note: dict[str, Any]) -> None:
        """A control for the call while this side holds it (the monitoring hub's handler)."""
        control = note.get("control")
        kind = control.get("type") if isinstance(control, dict) else None
        if kind == "whatsapp_answer" and isinstance(control, dict) and not self._answer.done():
            sdp = control.get("sdp")
            self._answer.set_result(sdp if isinstance(sdp, str) else "")
        elif kind == "caller_hung_up":
            if not self._answer.done():
                self._answer.set_result(DECLINED)
            elif self.call is not None:  # answered; the call is starting: it ends at once
                self.call.caller_hung_up()

    def drop(self) -> None:
        """The server is stopping: stop ringing."""
        if not self._answer.done():
            self._answer.set_result(DECLINED)

    def forget(self) -> None:
        """Stop taking the call's controls (if the call itself has not taken them) and leave the ringing set."""
        if self.hub.controls.get(self.key) is self._handler:
            del self.hub.controls[self.key]
        if self.state.ringing.get(self.key) == self.drop:
            del self.state.ringing[self.key]

    async def _ring_then_run(self, call: WhatsAppCall) -> None:
        try:
            answer = await self._wait_for_answer()
            if answer is not None:
                await self._run(call, answer)
        except Exception:
            self.state.counters["errors"] += 1
            log.exception("a WhatsApp offer failed")
        finally:
            self.forget()
            self.slot.release()
            with contextlib.suppress(Exception):
                await call.close()

    async def _wait_for_answer(self) -> str | None:
        timeout_s = min(self.state.settings.whatsapp_ring_timeout_s,
                        self.request.expires_at - TOKEN_MARGIN_S - time.time())
        try:
            answer = await asyncio.wait_for(asyncio.shield(self._answer), max(timeout_s, 0.0))
        except TimeoutError:
            self.state.counters["whatsapp_ring_timeouts"] += 1
            return None
        finally:
            if self.state.ringing.get(self.key) == self.drop:
                del self.state.ringing[self.key]
        if answer is DECLINED:
            self.state.counters["whatsapp_offers_dropped"] += 1
        return answer

    async def _run(self, call: WhatsAppCall, answer: str) -> None:
        try:
            await asyncio.wait_for(call.accept(answer), self.state.settings.web_negotiation_timeout_s)
        except (ValueError, TimeoutError) as problem:
            self.state.counters["whatsapp_bad_answers"] += 1
            log.warning("a WhatsApp answer could not be applied: %s", problem)
            return
        if call.hung_up:  # the user hung up while the answer was applied: nothing to admit
            self.state.counters["whatsapp_offers_dropped"] += 1
            return
        try:
            admission = await signaling.admit(self.state, self.request, "whatsapp")
        except Refusal as refused:
            log.warning("a WhatsApp call could not be admitted: %s", refused.description)
            return
        self.state.counters["whatsapp_calls"] += 1
        await call.run(admission)
