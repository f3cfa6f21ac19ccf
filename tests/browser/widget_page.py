"""Helpers for tests that drive the call widget in a page: open it, wait for its state, read what it shows."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

Shot = Callable[[Page, str], Path]


def wait_until(condition: Callable[[], object], failure: str, timeout_s: float = 15) -> None:
    """Poll a condition of this process (not of the page: sleeping here pauses Playwright's event handling)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure)
        time.sleep(0.05)


def open_demo(page: Page, base: str, public_key: str, agent_id: int = 12) -> None:
    """The demo page served from ``base`` with the widget set on ``agent_id`` and ``public_key``, idle."""
    page.goto(f"{base}/web-demo?agent_id={agent_id}&public_key={public_key}")
    page.wait_for_function("customElements.get('parley-widget') !== undefined")
    expect(page.locator("parley-widget")).to_have_attribute("state", "idle")


def status_text(page: Page) -> str:
    return page.locator("parley-widget .status").inner_text()


def wait_state(page: Page, state: str, timeout_ms: float = 15000) -> None:
    expect(page.locator("parley-widget")).to_have_attribute("state", state, timeout=timeout_ms)
