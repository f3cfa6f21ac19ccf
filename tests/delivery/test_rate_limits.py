"""Per-account fixed-window counters in DynamoDB: exact under concurrency, per account, per window."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from chalicelib.db.models import RateCounter
from chalicelib.domain import rate_limits
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.rate_limits import DailyEmailQuota, Limit, take

MINUTE = Limit("probe", 5, 60, "probes")
START = 1_800_000_000.0  # a minute (and day) boundary


def test_a_window_allows_exactly_its_limit_then_says_how_long_to_wait(aws: None) -> None:
    assert [take(1, MINUTE, now=START + 10) for _ in range(5)] == [None] * 5
    assert take(1, MINUTE, now=START + 10) == 50
    assert take(1, MINUTE, now=START + 59.5) == 1
    assert take(2, MINUTE, now=START + 10) is None  # another account has its own count
    assert take(1, MINUTE, now=START + 60) is None  # the next window starts again
    [counter] = [c for c in RateCounter.scan() if c.counter_key == f"probe#1#{int(START)}"]
    assert counter.hits == 5  # refused operations are not counted
    assert counter.expires_at == datetime.fromtimestamp(START + 60 + 3600, UTC)  # DynamoDB's TTL removes it


def test_concurrent_operations_never_pass_the_limit(aws: None) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: take(7, MINUTE, now=START + 1), range(24)))
    assert answers.count(None) == 5 and all(a == 59 for a in answers if a is not None)


def test_check_raises_rate_limited_with_the_wait(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_SEND_NOW_PER_MINUTE", "2")
    monkeypatch.setattr(rate_limits, "_now", lambda: START + 30)
    rate_limits.check_send_now(3)
    rate_limits.check_send_now(3)
    with pytest.raises(RateLimited) as refused:
        rate_limits.check_send_now(3)
    assert refused.value.retry_after == 30 and refused.value.code == "rate_limited"
    assert "at most 2 send-now requests a minute per account" in refused.value.description


def test_the_daily_email_quota_defaults_to_500_and_is_configurable(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rate_limits.email_limit().limit == 500 and rate_limits.send_now_limit().limit == 30
    monkeypatch.setenv("PARLEY_EMAIL_SENDS_PER_DAY", "1")
    monkeypatch.setattr(rate_limits, "_now", lambda: START + 3600)
    quota = DailyEmailQuota()
    assert quota.take(9) is None
    refusal = quota.take(9)
    assert refusal is not None and "1 post-call emails a day" in refusal and "not retried" in refusal
