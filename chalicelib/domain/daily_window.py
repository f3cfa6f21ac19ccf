"""When a campaign may dial, given its daily-time-control settings."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def _local(now: datetime, zone: str | None) -> datetime:
    return now.astimezone(ZoneInfo(zone or "UTC"))


def _hour(moment: datetime) -> float:
    return moment.hour + moment.minute / 60 + moment.second / 3600


def seconds_until_allowed(window: dict[str, Any] | None, now: datetime) -> int | None:
    """0 when dialling is allowed now; N seconds until the window reopens; None when it will not
    reopen by itself (a hard stop without auto start: the campaign should pause)."""
    if not window or not window.get("enable_daily_hard_stop"):
        return 0
    stop_local = _local(now, window.get("daily_stop_timezone"))
    stop_hour = float(window["daily_stop_time"])
    auto_start = bool(window.get("enable_daily_auto_start"))
    start_hour = float(window.get("daily_start_time") or 0) if auto_start else 0.0
    start_local = _local(now, window.get("daily_start_timezone") or window.get("daily_stop_timezone"))
    current_stop, current_start = _hour(stop_local), _hour(start_local)
    if start_hour <= stop_hour:
        inside = start_hour <= current_start and current_stop < stop_hour
    else:  # the window runs past midnight, e.g. 20:00 -> 02:00
        inside = current_start >= start_hour or current_stop < stop_hour
    if inside or (not auto_start and current_stop < stop_hour):
        return 0
    if not auto_start:
        return None
    hours = (start_hour - current_start) % 24
    next_start = start_local + timedelta(hours=hours)
    return max(1, int((next_start - start_local).total_seconds()))
