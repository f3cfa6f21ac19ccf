"""When to try a failed delivery again: a fixed schedule (Svix-like by default) with jitter."""
from __future__ import annotations

import random

from chalicelib.delivery.contract import DeliverySettings


def delay_after(failed_attempts: int, settings: DeliverySettings, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the ``failed_attempts``-th failure (1-based); None when none are left."""
    schedule = settings.retry_schedule_s
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    spread = (rng or random).uniform(1 - settings.jitter, 1 + settings.jitter) if settings.jitter else 1.0
    return max(0.0, base * spread)
