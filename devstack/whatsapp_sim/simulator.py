"""The simulated Meta: registry, calls, webhooks, and the life of a call once it is set up.

The two ways a call starts are in :mod:`devstack.whatsapp_sim.user_calls` (a user rings a business) and
:mod:`devstack.whatsapp_sim.business_calls` (a business rings a user); both end here (:meth:`end`), with a
``terminate`` webhook. Everything runs on one asyncio loop (the HTTP server's).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from devstack.whatsapp_sim import graph_errors, payloads
from devstack.whatsapp_sim.calls import SimCall, Status
from devstack.whatsapp_sim.registry import Number, Registry
from devstack.whatsapp_sim.script import play, prefetch
from devstack.whatsapp_sim.voice import UserVoice
from devstack.whatsapp_sim.webhooks import RetryPolicy, WebhookSender

log = logging.getLogger("parley.whatsapp_sim")
MEDIA_LOST_GRACE_S = 5.0  # media gone mid-call: how long the business has to send terminate itself


@dataclass(frozen=True)
class SimConfig:
    ring_timeout_s: float = 60.0  # a call not accepted in this time fails (terminate FAILED)
    media_timeout_s: float = 20.0  # an accepted call whose media does not connect in this time fails
    voice_engine: str = "piper"
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class SimError(Exception):
    """A control-API error: ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class WhatsAppSimulator:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.registry = Registry()
        self.calls: dict[str, SimCall] = {}
        self.webhooks = WebhookSender(self.config.retry)
        self.voice = UserVoice(self.config.voice_engine)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._media: dict[str, asyncio.Task[None]] = {}

    # -- plumbing ---------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("whatsapp simulator task failed", exc_info=task.exception())

    async def send(self, call: SimCall, value: dict[str, Any], label: str) -> int | None:
        """Deliver one of the call's webhooks, after the ones before it (Meta keeps a call's events in order)."""
        async with call.webhook_order:
            return await self.webhooks.deliver(call.number, value, label, call.record)

    # -- Graph API ----------------------------------------------------------------------------------

    def authorize(self, phone_number_id: str, token: str | None) -> Number:
        """The number a Graph request acts on, if its access token is the number's."""
        if not token:
            raise graph_errors.invalid_token()
        number = self.registry.numbers.get(phone_number_id)
        if number is None:
            raise graph_errors.unknown_object(phone_number_id)
        if not hmac.compare_digest(token.encode(), number.access_token.encode()):
            raise graph_errors.invalid_token()
        return number

    def call_for(self, number: Number, call_id: str | None) -> SimCall:
        call = self.calls.get(call_id or "")
        if call is None or call.number.phone_number_id != number.phone_number_id:
            raise graph_errors.invalid_parameter(f"call_id {call_id!r} is not a call of this phone number")
        return call

    # -- a call's life ------------------------------------------------------------------------------

    def accepted(self, call: SimCall, at: float) -> None:
        call.status = "in_progress"
        call.accepted_at = at
        call.answered.set()
        self._media[call.id] = self.spawn(self._converse(call))

    async def _converse(self, call: SimCall) -> None:
        """The user's side of an accepted call: wait for media, play the script, hang up."""
        peer = call.peer
        assert peer is not None
        prefetch(self.voice, call.script)
        if not await peer.wait_connected(self.config.media_timeout_s):
            await self.end(call, by="sim", status="failed", webhook_status="FAILED",
                           error=f"media did not connect (state {peer.pc.connectionState})")
            return
        await play(peer, self.voice, call.script, call.steps)
        if peer.broken:  # the business's side went away: give it a moment to say terminate itself
            try:
                await asyncio.wait_for(call.ended.wait(), MEDIA_LOST_GRACE_S)
            except TimeoutError:
                await self.end(call, by="sim", status="failed", webhook_status="FAILED",
                               error=f"media lost (state {peer.pc.connectionState})")
            return
        await self.end(call, by="user", status="completed", webhook_status="COMPLETED")

    async def watch_ring(self, call: SimCall) -> None:
        """A call nobody accepts within the ring timeout fails."""
        try:
            await asyncio.wait_for(call.answered.wait(), self.config.ring_timeout_s)
        except TimeoutError:
            await self.end(call, by="timeout", status="failed", webhook_status="FAILED", error="not answered in time")

    async def end(self, call: SimCall, *, by: str, status: Status, webhook_status: str,
                  error: str | None = None) -> None:
        """End the call once: hang up the user's peer, then send ``terminate``."""
        if call.is_over:
            return
        call.status = status
        call.ended_at = time.time()
        call.ended_by = by
        call.terminate_status = webhook_status
        call.error = call.error or error
        call.ended.set()
        media = self._media.pop(call.id, None)
        if media is not None and media is not asyncio.current_task():
            media.cancel()
        if call.peer is not None:
            await call.peer.close()
        await self.send(call, payloads.terminate(call, webhook_status), "terminate")

    async def hang_up(self, call: SimCall) -> None:
        """The user hangs up now (``POST /sim/whatsapp/calls/{id}/hang_up``)."""
        if call.is_over:
            raise SimError(409, "call_ended", f"call {call.id} has already ended")
        await self.end(call, by="user", status="completed" if call.accepted_at else "failed",
                       webhook_status="COMPLETED" if call.accepted_at else "FAILED")

    # -- control --------------------------------------------------------------------------------------

    async def reset(self) -> None:
        """Forget everything; live calls are dropped without webhooks."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for call in self.calls.values():
            if call.peer is not None:
                await call.peer.close()
        self.calls.clear()
        self._media.clear()
        self.registry.clear()
        self.webhooks.deliveries.clear()

    async def close(self) -> None:
        await self.reset()
        await self.webhooks.close()
