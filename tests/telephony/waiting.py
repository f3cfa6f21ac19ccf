"""Waiting on the carrier simulator and the API in telephony tests."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for_value(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """The first truthy value ``condition`` returns, polled every 50 ms; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
