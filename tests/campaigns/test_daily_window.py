"""Daily time control: when a campaign may dial."""
from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.daily_window import seconds_until_allowed

NY = {"enable_daily_hard_stop": True, "enable_daily_auto_start": True, "daily_stop_time": 18,
      "daily_stop_timezone": "America/New_York", "daily_start_time": 9}


def _utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, 1, hour, minute, tzinfo=UTC)  # New York is UTC-4 in July


def test_no_window_always_allows() -> None:
    assert seconds_until_allowed(None, _utc(3)) == 0
    assert seconds_until_allowed({"enable_daily_hard_stop": False}, _utc(3)) == 0


def test_inside_the_window_dials() -> None:
    assert seconds_until_allowed(NY, _utc(14)) == 0  # 10:00 in New York


def test_after_the_stop_waits_for_the_next_start() -> None:
    assert seconds_until_allowed(NY, _utc(23)) == 14 * 3600  # 19:00 -> 09:00 next day
    assert seconds_until_allowed(NY, _utc(12, 30)) == 30 * 60  # 08:30 -> 09:00


def test_hard_stop_without_auto_start_asks_to_pause() -> None:
    window = {**NY, "enable_daily_auto_start": False, "daily_start_time": None}
    assert seconds_until_allowed(window, _utc(14)) == 0
    assert seconds_until_allowed(window, _utc(23)) is None


def test_window_across_midnight() -> None:
    night = {**NY, "daily_start_time": 20, "daily_stop_time": 2}
    assert seconds_until_allowed(night, _utc(2)) == 0  # 22:00
    assert seconds_until_allowed(night, _utc(5)) == 0  # 01:00
    assert seconds_until_allowed(night, _utc(12)) == 12 * 3600  # 08:00 -> 20:00
