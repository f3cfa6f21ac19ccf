"""Play a caller script (``devstack.carrier_sim.scripts``) as the WhatsApp user, on a connected peer."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from devstack.carrier_sim.scripts import DEFAULT_WAIT_TIMEOUT, Step
from devstack.whatsapp_sim.user_peer import UserPeer
from devstack.whatsapp_sim.voice import UserVoice

SAY_TIMEOUT_S = 120.0


def prefetch(voice: UserVoice, script: tuple[Step, ...]) -> None:
    """Start synthesizing every sentence now (while the call connects and the agent greets)."""
    for step in script:
        if step.text:
            asyncio.ensure_future(voice.phrase(step.text))


async def play(peer: UserPeer, voice: UserVoice, script: tuple[Step, ...], log: list[dict[str, Any]]) -> None:
    """Run the steps in order until the script ends, a ``hang_up`` step, or the media breaks."""
    started = time.monotonic()
    for step in script:
        if step.kind == "hang_up" or peer.broken:
            break
        at = time.monotonic()
        record: dict[str, Any] = {**step.to_json(), "at": round(at - started, 3)}
        log.append(record)
        record["ok"] = await _step(peer, voice, step)
        record["took"] = round(time.monotonic() - at, 3)


async def _step(peer: UserPeer, voice: UserVoice, step: Step) -> bool:
    if step.kind == "wait_agent":
        return await peer.listener.wait_silence(step.seconds, step.timeout, lambda: peer.broken)
    if step.kind == "say":
        peer.mic.say(await voice.phrase(step.text))
        return await peer.wait_mic_idle(SAY_TIMEOUT_S)
    if step.kind == "barge_in":
        pcm = await voice.phrase(step.text)
        heard = await peer.listener.wait_speech(DEFAULT_WAIT_TIMEOUT, lambda: peer.broken)
        if heard:
            await asyncio.sleep(step.seconds)  # the script's own delay into the agent's speech
        peer.mic.say(pcm)
        return await peer.wait_mic_idle(SAY_TIMEOUT_S) and heard
    if step.kind == "pause":
        await asyncio.sleep(step.seconds)  # the script says: stay quiet this long
        return True
    return False  # dtmf: refused when the script is set; nothing else reaches here
