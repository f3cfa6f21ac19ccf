"""Debian's ``chromium`` driven by Playwright: where it is, the flags it needs here, and a launcher.

Playwright's own browser download cannot work on these machines (no internet beyond the package registries),
so Playwright drives the system browser (``executable_path``). The flags keep a headless Chromium from calling
home (sync, component updates, background networking) and give it a fake microphone that plays a WAV file
once (``%noloop``) with the permission prompt answered "allow" (``--use-fake-ui-for-media-stream``); without
that flag, and without a granted permission, ``getUserMedia`` is refused as a person clicking "Block" would.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

BASE_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces we may not have
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), or None when it is not installed."""
    return shutil.which("chromium")


def chromium_flags(fake_mic_wav: Path | None = None, allow_mic: bool = True) -> list[str]:
    """Launch flags; with ``fake_mic_wav`` a fake microphone playing that file once.

    ``allow_mic=False`` leaves out the fake permission UI: the page's microphone request is then refused
    (unless a test grants it through the context's permissions).
    """
    flags = list(BASE_FLAGS)
    if fake_mic_wav is not None:
        flags += ["--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={fake_mic_wav.resolve()}%noloop"]
        if allow_mic:
            flags.append("--use-fake-ui-for-media-stream")
    return flags


@contextmanager
def launched_chromium(playwright: Playwright, fake_mic_wav: Path | None = None, allow_mic: bool = True,
                      executable: str | None = None) -> Iterator[Browser]:
    """A headless Chromium, closed on exit.

    Each ``launch`` runs on a fresh ``--user-data-dir`` that Playwright makes and removes itself (it refuses
    the flag in ``args``). Audio is not muted (Playwright mutes headless browsers by default): the page
    measures what it plays.
    """
    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                         ignore_default_args=["--mute-audio"],
                                         args=chromium_flags(fake_mic_wav, allow_mic))
    try:
        yield browser
    finally:
        browser.close()
