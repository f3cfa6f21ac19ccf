"""Fixtures for tests in a real browser: Debian's Chromium driven by Playwright, a fake microphone that says a
Piper sentence, the stub server, and screenshots.

Screenshots go to a temporary folder (printed by the ``screenshot`` fixture), and also to
``$PARLEY_SCREENSHOTS_DIR`` when that is set, for people to look at.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.caller_audio import caller_wav
from tests.browser.chromium import chromium_path, launched_chromium
from tests.browser.stub_server import StubServer, start_stub_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CALLER_SENTENCE = "Hello, what time do you open tomorrow morning?"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole local stack (voice included), one per test module."""
    from devstack.launch import local_stack

    with local_stack(tmp_path_factory.mktemp("stack")) as running:
        running["base"] = running["api_url"].removesuffix("/api/v1")  # the page origin: http://127.0.0.1:<port>
        yield running


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed and could not be (make test runs: apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def caller_wav_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone's audio: 1.5 s of silence, the caller's sentence (Piper), 4 s of silence."""
    return caller_wav(tmp_path_factory.mktemp("caller") / "caller.wav", CALLER_SENTENCE)


@pytest.fixture(scope="module")
def playwright(chromium_executable: str) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(caller_wav_file: Path, playwright: Playwright, chromium_executable: str) -> Iterator[Browser]:
    """Chromium whose microphone is allowed and says the caller's sentence."""
    with launched_chromium(playwright, caller_wav_file, allow_mic=True, executable=chromium_executable) as launched:
        yield launched


@pytest.fixture(scope="module")
def mic_blocked_browser(caller_wav_file: Path, playwright: Playwright, chromium_executable: str
                        ) -> Iterator[Browser]:
    """Chromium with a (fake) microphone whose permission is never granted: getUserMedia is refused."""
    with launched_chromium(playwright, caller_wav_file, allow_mic=False, executable=chromium_executable) as launched:
        yield launched


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no state shared between tests); console errors are printed."""
    context = browser.new_context()
    new_page = context.new_page()
    new_page.on("console", lambda msg: print(f"[browser {msg.type}] {msg.text}"))
    new_page.on("pageerror", lambda err: print(f"[browser pageerror] {err}"))
    yield new_page
    context.close()


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    server_state, server = start_stub_server()
    yield server_state
    server_state.release_slow_offer.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("screens")
    print(f"\nbrowser screenshots: {path}")
    return path


@pytest.fixture()
def screenshot(screenshots_dir: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, "name")`` saves ``name.png`` (the full page) and returns its path."""
    extra = os.environ.get("PARLEY_SCREENSHOTS_DIR")

    def take(target: Page, name: str) -> Path:
        path = screenshots_dir / f"{name}.png"
        target.screenshot(path=str(path), full_page=True)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return take
