"""One run of the status probe: every monitor's check in parallel, bounded in total, one beat each."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from chalicelib.status import beats
from chalicelib.status.monitors import MONITORS, CheckResult, Monitor, Status, StatusSettings
from chalicelib.status.timeouts import PROBE_DEADLINE_S

TIMED_OUT = CheckResult(Status.DOWN, None, "timed out")


def run_checks(monitors: Sequence[Monitor], settings: StatusSettings,
               deadline_s: float = PROBE_DEADLINE_S) -> dict[int, CheckResult]:
    """Each monitor's result by id; a check still running at the deadline is down ("timed out")."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(monitors)), thread_name_prefix="status-check")
    try:
        futures: dict[int, Future[CheckResult]] = {m.id: pool.submit(m.check, settings) for m in monitors}
        done, _ = wait(futures.values(), timeout=deadline_s)
        return {monitor_id: future.result() if future in done else TIMED_OUT
                for monitor_id, future in futures.items()}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck check's thread ends at its own timeout


def probe(monitors: Sequence[Monitor] = MONITORS, settings: StatusSettings | None = None,
          now: datetime | None = None) -> list[beats.Beat]:
    """Run every check and record one beat per monitor; returns the beats."""
    at = now or datetime.now(UTC)
    results = run_checks(monitors, settings or StatusSettings.from_env())
    recorded = [beats.Beat.of(monitor_id, at, result) for monitor_id, result in results.items()]
    beats.record(recorded)
    return recorded
