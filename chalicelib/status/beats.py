"""The monitors' beats in DynamoDB (``StatusBeat``) and the uptime math over them.

A beat is kept 48 hours (TTL). Reading a monitor's history is one query, newest first, bounded to the last
24 hours and to ``WINDOW_LIMIT`` beats (a day of beats at the deployed one-a-minute rate, with room).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.db.models import StatusBeat
from chalicelib.status.monitors import CheckResult, Status

BEAT_TTL = timedelta(hours=48)
WINDOW = timedelta(hours=24)
WINDOW_LIMIT = 1500
"""At most this many beats make a monitor's 24-hour uptime (a faster probe, as locally, covers less than 24 h)."""
HEARTBEAT_LIMIT = 100
"""Beats per monitor in the public heartbeat list (Uptime Kuma's)."""


@dataclass(frozen=True)
class Beat:
    monitor_id: int
    at: int
    """Epoch seconds (UTC)."""
    status: Status
    ping_ms: int | None
    msg: str

    @classmethod
    def of(cls, monitor_id: int, at: datetime, result: CheckResult) -> Beat:
        return cls(monitor_id, int(at.timestamp()), result.status, result.ping_ms, result.msg)


def record(beats: Iterable[Beat]) -> None:
    """Store beats (one batch write)."""
    with StatusBeat.batch_write() as batch:
        for beat in beats:
            batch.save(StatusBeat(
                beat.monitor_id, beat.at, status=int(beat.status), ping_ms=beat.ping_ms, msg=beat.msg,
                expires_at=datetime.fromtimestamp(beat.at, UTC) + BEAT_TTL))


def window(monitor_id: int, now: datetime) -> list[Beat]:
    """The monitor's beats of the last 24 hours, newest first (one query, at most ``WINDOW_LIMIT``)."""
    since = int((now - WINDOW).timestamp())
    items = StatusBeat.query(monitor_id, StatusBeat.beat_at > since, scan_index_forward=False, limit=WINDOW_LIMIT)
    return [Beat(int(item.monitor_id), int(item.beat_at), Status(int(item.status)),
                 None if item.ping_ms is None else int(item.ping_ms), item.msg or "") for item in items]


def latest(newest_first: Sequence[Beat], limit: int = HEARTBEAT_LIMIT) -> list[Beat]:
    """The last ``limit`` beats, oldest first (the heartbeat list's order)."""
    return list(reversed(newest_first[:limit]))


def uptime(beats: Iterable[Beat]) -> float:
    """Uptime Kuma's ratio: up and maintenance count as up, down and pending as down; no beats is 0."""
    up = total = 0
    for beat in beats:
        total += 1
        up += beat.status in (Status.UP, Status.MAINTENANCE)
    return up / total if total else 0.0
