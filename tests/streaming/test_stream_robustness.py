"""Abuse of the media endpoint: abrupt connects and disconnects at every stage, garbage, wrong codecs.

The service must not crash or leak tasks, and every admitted call is finalized exactly once.
"""
from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from chalicelib.telephony import stream_tokens
from streaming.server import STATE
from tests.streaming.harness import SECRET, RecordingLifecycle, TwilioSide, quiet, running_server, tone

CYCLES = 1000
# What an idle service runs: the metrics publisher (and the frame clock, waiting, once it has played audio).
IDLE_SERVICE_TASKS = ["_start_metrics.<locals>.publish"]


class CountingLifecycle(RecordingLifecycle):
    def __init__(self) -> None:
        super().__init__()
        self.admitted: list[int] = []
        self.finalize_attempts: list[int] = []

    def admit(self, call_id, token, stream_sid, secret):
        admission = super().admit(call_id, token, stream_sid, secret)
        self.admitted.append(admission.call_id)
        return admission

    def finalize(self, admission, result):
        self.finalize_attempts.append(admission.call_id)
        return super().finalize(admission, result)


async def _cycle(http: aiohttp.ClientSession, url: str, index: int, rng: random.Random) -> None:
    kind = index % 8
    ws = await http.ws_connect(f"{url}/twilio")
    side = TwilioSide(ws, stream_sid=f"MZ{index}")
    try:
        if kind == 0:
            return  # connect and vanish
        await side.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if kind == 1:
            return
        if kind == 2:  # garbage only
            await ws.send_str("{" * rng.randint(1, 50))
            await ws.send_bytes(rng.randbytes(rng.randint(1, 300)))
            return
        if kind == 3:  # wrong codec
            l16 = {"encoding": "audio/l16", "sampleRate": 16000}
            await side.start(index, stream_tokens.issue(SECRET, 1, index), l16)
            return
        if kind == 4:  # forged token
            await side.start(index, stream_tokens.issue("forged", 1, index))
            return
        await side.start(index, stream_tokens.issue(SECRET, 1, index))
        if kind == 5:
            return  # admitted, then the socket drops at once
        await side.audio(tone(rng.uniform(0.02, 0.4)) + quiet(rng.uniform(0.0, 0.6)))
        if kind == 6:
            await side.stop()
            await asyncio.sleep(rng.uniform(0, 0.02))
    finally:
        side._reader.cancel()
        await asyncio.gather(side._reader, return_exceptions=True)
        await ws.close()


@pytest.mark.slow
def test_a_thousand_abrupt_streams_leave_no_task_behind_and_finalize_each_call_once() -> None:
    recorder = CountingLifecycle()
    rng = random.Random(7)

    async def scenario() -> tuple[dict, list[str], int]:
        async with running_server(recorder) as (url, app), aiohttp.ClientSession() as http:
            for start in range(0, CYCLES, 25):
                await asyncio.gather(*[_cycle(http, url, i, rng) for i in range(start, min(CYCLES, start + 25))])
            state = app[STATE]
            for _ in range(500):
                if not state.active and not state.finalizing:
                    break
                await asyncio.sleep(0.02)
            counters = dict(state.counters)
            active, finalizing = len(state.active), len(state.finalizing)
            assert active == 0 and finalizing == 0
            # Only the test's own task and the service's metrics publisher may still be running
            # (handlers of sockets closed a moment ago get a little time to see the close).
            for _ in range(100):
                leftover = sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks()
                                  if t is not asyncio.current_task() and t is not outer
                                  and t.get_coro().__qualname__ != "FrameClock._run")
                if leftover == IDLE_SERVICE_TASKS:
                    break
                await asyncio.sleep(0.05)
        return counters, leftover, active

    async def main() -> tuple[dict, list[str], int]:
        nonlocal outer
        outer = asyncio.current_task()
        return await asyncio.wait_for(scenario(), 240)

    outer: asyncio.Task | None = None
    counters, leftover_tasks, _ = asyncio.run(main())
    admitted = recorder.admitted
    assert len(admitted) == CYCLES * 3 // 8  # kinds 5, 6, 7 start valid streams
    assert sorted(recorder.finalize_attempts) == sorted(admitted)  # each exactly once, none forgotten
    assert counters.get("errors", 0) == 0 and counters.get("finalize_errors", 0) == 0
    assert counters["rejected_codec"] == CYCLES // 8 and counters["rejected_admission"] == CYCLES // 8
    assert leftover_tasks == IDLE_SERVICE_TASKS, leftover_tasks
