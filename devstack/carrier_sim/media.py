"""The media plug-in point of the Twilio stand-in: what happens on an answered call.

The simulator hands each answered call to a :class:`MediaSession` built by the media factory it was
given: :class:`NoMedia` (the default) holds the line for the talk time; the scripted caller
(:mod:`devstack.carrier_sim.caller_voice`) speaks on the call's Media Stream.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from devstack.carrier_sim.twiml import StreamHook

if TYPE_CHECKING:
    from devstack.carrier_sim.machine_rules import MachineRules


@dataclass(frozen=True)
class MediaContext:
    """What a media session gets when its call is answered.

    ``schedule(delay, fn)`` runs ``fn`` on the simulator's scheduler after ``delay`` seconds;
    ``hang_up()`` ends the call as the callee hanging up (``completed``; harmless if it already
    ended); ``end_call(by)`` does the same and records ``by`` as the call's ``ended_by`` (e.g.
    ``stream-ended`` when the media server closed a ``<Connect>`` stream). ``stream`` is the call's
    ``<Stream>`` (None if its TwiML has none). A session may also offer ``inspection() -> dict``,
    shown as the ``media`` section of ``/sim/calls``.

    ``stream_outlives_call``: the carrier reports the call's end before it stops the stream (the
    rules' negative ``final_callback_delay``). A session that ends the call itself then leaves its
    stream open after ``end_call``; the simulator calls :meth:`MediaSession.stop` when the stream's
    time is up.

    ``answerer`` is who picked up (``human`` or ``machine``; a machine behaves as ``machine`` says).
    A session that plays the answering machine calls ``message_prompt()`` once its greeting and beep
    have been played into the stream (the simulator then reports AMD's ``machine_end_beep``), and
    has a true ``plays_answering_machine`` attribute (otherwise the simulator estimates that moment).
    """

    call_sid: str
    account_sid: str
    to: str
    from_: str
    stream: StreamHook | None
    talk_time: float
    schedule: Callable[[float, Callable[[], None]], None]
    hang_up: Callable[[], None]
    end_call: Callable[[str], None] | None = None
    stream_outlives_call: bool = False
    answerer: str = "human"
    machine: MachineRules | None = None
    message_prompt: Callable[[], None] | None = None


class MediaSession(Protocol):
    """The media side of one answered call. Neither method may block the caller."""

    def start(self, ctx: MediaContext) -> None:
        """The call was answered; begin (e.g. open the Media Streams WebSocket)."""

    def stop(self) -> None:
        """The call ended for any reason (API hang-up, callee hang-up, reset); release everything."""


class NoMedia:
    """The default: no audio at all; the callee stays on the line for the talk time, then hangs up."""

    def start(self, ctx: MediaContext) -> None:
        ctx.schedule(ctx.talk_time, ctx.hang_up)

    def stop(self) -> None:
        return None


def no_media(_call: object) -> MediaSession:
    """A media factory (:data:`devstack.carrier_sim.calls.MediaFactory`) that gives every call :class:`NoMedia`."""
    return NoMedia()
