"""The Twilio stand-in's answering machine: what picks up calls the rules send to voicemail (To numbers
ending in 7, or ``answered_by`` set to ``machine``).

The call is answered and its ``<Connect><Stream>`` opened exactly as for a human
(:class:`~devstack.carrier_sim.caller_voice.ScriptedCaller` does the plumbing). Then the machine plays
its greeting (the caller's Piper voice) and a 1 kHz beep into the stream, reports
``message_prompt()`` to the simulator (which sends AMD's ``machine_end_beep`` for ``DetectMessageEnd``
calls), and records what the agent says: the message. It hangs up once the agent hangs up, once the
agent has been silent for ``silence_timeout`` seconds (from the beep when it says nothing), or after
``max_message`` seconds of recording (:class:`~devstack.carrier_sim.rules.MachineRules`). The
recordings (``recordings_dir``) hold the whole call; the message starts at ``beep_ended_s`` (seconds
from the stream's connection) in ``/sim/calls``.
"""
from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.carrier_sim.caller_voice import CallerVoice, MediaLoop, ScriptedCaller
from devstack.carrier_sim.machine_rules import MachineRules

if TYPE_CHECKING:
    from devstack.media_client import MediaStreamClient

BEEP_HZ = 1000.0
BEEP_LEVEL = 12000
GREETING_GAP = 0.3  # silence between the greeting and the beep
TAIL = 0.04  # silence queued after the beep, so its last frame is on the wire when the prompt is reported


def beep(seconds: float, sample_rate: int = 8000) -> bytes:
    """A 1 kHz tone of ``seconds`` (PCM16) with 5 ms ramps, like a voicemail beep."""
    n = int(seconds * sample_rate)
    ramp = max(1, int(0.005 * sample_rate))
    samples = []
    for i in range(n):
        gain = min(1.0, i / ramp, (n - 1 - i) / ramp)
        samples.append(int(BEEP_LEVEL * gain * math.sin(2 * math.pi * BEEP_HZ * i / sample_rate)))
    return b"".join(v.to_bytes(2, "little", signed=True) for v in samples)


class AnsweringMachine(ScriptedCaller):
    """A :class:`~devstack.carrier_sim.media.MediaSession` playing a voicemail box on the call's stream."""

    plays_answering_machine = True

    def __init__(self, machine: MachineRules | None = None, *, recordings_dir: str | Path | None = None,
                 voice: CallerVoice | None = None, media_loop: MediaLoop | None = None,
                 connect_timeout: float = 10.0) -> None:
        super().__init__((), recordings_dir=recordings_dir, voice=voice, media_loop=media_loop,
                         connect_timeout=connect_timeout)
        self.machine = machine or MachineRules()
        self.greeting_started_s: float | None = None
        self.beep_ended_s: float | None = None
        self.message_ended_by: str | None = None  # agent-hung-up, silence, max-length or call-ended

    def _prefetch(self) -> None:
        assert self.voice is not None
        asyncio.ensure_future(self.voice.phrase(self.machine.greeting))

    async def _converse(self, client: MediaStreamClient) -> None:
        assert self.voice is not None and client.connected_at is not None
        greeting = await self.voice.phrase(self.machine.greeting)
        if client.closed or self._stopped:
            return
        self.greeting_started_s = round(time.monotonic() - client.connected_at, 3)
        client.say(greeting)
        client.pause(GREETING_GAP)
        client.say(beep(self.machine.beep))
        client.pause(TAIL)
        if not await client.wait_sent():
            self.message_ended_by = "call-ended"
            return
        beep_end = time.monotonic()
        self.beep_ended_s = round(beep_end - client.connected_at, 3)
        if self._ctx is not None and self._ctx.message_prompt is not None:
            self._ctx.message_prompt()
        self.message_ended_by = await self._record(client, beep_end)

    async def _record(self, client: MediaStreamClient, beep_end: float) -> str:
        """Listen (the stream carries silence) until the message is over; returns why it ended."""
        deadline = beep_end + self.machine.max_message
        silence = self.machine.silence_timeout
        heard = await client.wait_agent_speech(timeout=min(silence, self.machine.max_message))
        while heard and not client.closed and not self._stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "max-length"
            if await client.wait_agent_silence(silence, timeout=remaining, since=beep_end):
                return "silence"
        if client.closed:
            return "agent-hung-up"
        if self._stopped:
            return "call-ended"
        return "silence" if time.monotonic() < deadline else "max-length"

    def inspection(self) -> dict[str, Any]:
        data = super().inspection()
        del data["script"], data["script_finished"], data["steps"]
        return {**data, "kind": "answering-machine", "greeting": self.machine.greeting,
                "greeting_started_s": self.greeting_started_s, "beep_ended_s": self.beep_ended_s,
                "message_ended_by": self.message_ended_by}
