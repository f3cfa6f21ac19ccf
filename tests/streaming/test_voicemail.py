"""Voicemail: when the carrier's machine detection says an answering machine's greeting has ended, the task
holding the call stops what the agent is saying, leaves the agent's voicemail message and hangs up; the
machine's own audio is never answered as a caller turn."""
from __future__ import annotations

import asyncio

import aiohttp

from streaming.monitoring.hub import MonitorHub
from streaming.monitoring.publisher import MonitorPublisher
from tests.streaming.harness import RecordingLifecycle, TwilioSide, quiet, running_server, tone

WELCOME = "Hello, this is the clinic calling about your appointment next week, do you have a minute?"
MESSAGE = "Hi {{name}}, this is the clinic. Please call us back about your appointment."


def hub() -> MonitorHub:
    """The task's monitoring hub with a publisher that posts nowhere (no watchers)."""
    return MonitorHub(publisher=MonitorPublisher(object(), load=lambda _account: [], post=lambda *_a: True),
                      task_id="task-test")


def test_a_machine_gets_the_voicemail_message_then_the_agent_hangs_up() -> None:
    recorder = RecordingLifecycle(agent_config={"welcome_message": WELCOME,
                                                "voicemail": {"enabled": True, "message": MESSAGE}},
                                  call_context={"name": "Ada"})
    monitor = hub()

    async def scenario() -> TwilioSide:
        async with running_server(recorder, monitor=monitor) as (url, _app), aiohttp.ClientSession() as http:
            side = await TwilioSide.open(http, url, call_id=31)
            await side.wait_for(lambda: side.events("media"))  # the welcome is playing over the greeting
            await side.audio(quiet(0.2) + tone(0.8), realtime=True)  # the machine's greeting and beep
            monitor.on_note({"type": "control", "account_id": 3, "call_id": 31, "control": {"type": "voicemail"}})
            await side.wait_for(lambda: side.events("clear"))
            await side.audio(quiet(1.0), realtime=True)  # the machine records
            assert await side.closed(timeout=20) is not None  # the agent hung up
            await side.wait_for(lambda: recorder.finalized)
            return side

    asyncio.run(asyncio.wait_for(scenario(), 60))
    [(_call_id, result)] = recorder.finalized
    assert result.ended_by == "voicemail"
    roles = [(t["role"], t.get("source", "speech")) for t in result.transcript]
    assert roles == [("agent", "welcome"), ("agent", "voicemail")], result.transcript
    assert result.transcript[0]["interrupted"] is True
    assert result.transcript[1]["text"] == MESSAGE.replace("{{name}}", "Ada")
    assert result.turn_metrics == []  # the greeting was never answered as a turn
