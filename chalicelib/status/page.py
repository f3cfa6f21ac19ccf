"""The public heartbeat: each monitor's last beats and 24-hour uptime, computed at most once a minute per process.

Reading is one query per monitor (``beats.window``); the answer is kept ``cache_seconds()`` (60) in memory, as
long as clients are told to cache it (``Cache-Control: public, max-age=60``).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import PynamoDBException

from chalicelib.domain.errors import Unavailable
from chalicelib.observability import logger
from chalicelib.status import beats
from chalicelib.status.monitors import MONITORS, Monitor

CACHE_S = 60


def cache_seconds() -> int:
    """How long the answer is cached: 60 s, or ``PARLEY_STATUS_CACHE_SECONDS`` (the local stack's tests: 1)."""
    return int(os.environ.get("PARLEY_STATUS_CACHE_SECONDS") or CACHE_S)


@dataclass(frozen=True)
class MonitorHistory:
    monitor: Monitor
    beats: list[beats.Beat]
    """The last beats (at most ``beats.HEARTBEAT_LIMIT``), oldest first."""
    uptime_24h: float


_lock = threading.Lock()
_cached: tuple[float, list[MonitorHistory]] | None = None  # (monotonic expiry, answer)


def histories(monitors: Sequence[Monitor] = MONITORS) -> list[MonitorHistory]:
    """Every monitor's history, from this process's cache when it is younger than ``cache_seconds()``."""
    global _cached
    with _lock:
        if _cached is not None and time.monotonic() < _cached[0]:
            return _cached[1]
        answer = _read(monitors, datetime.now(UTC))
        _cached = (time.monotonic() + cache_seconds(), answer)
        return answer


def clear_cache() -> None:
    global _cached
    with _lock:
        _cached = None


def _read(monitors: Sequence[Monitor], now: datetime) -> list[MonitorHistory]:
    try:
        windows = {monitor.id: beats.window(monitor.id, now) for monitor in monitors}
    except PynamoDBException as error:
        logger.warning("status beats unreadable", extra={"error": type(error).__name__})
        raise Unavailable("the service status is unavailable right now; try again in a minute") from None
    return [MonitorHistory(monitor, beats.latest(windows[monitor.id]), beats.uptime(windows[monitor.id]))
            for monitor in monitors]
