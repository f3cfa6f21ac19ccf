"""Keypad input (DTMF): digits pressed together become one caller turn.

``#`` sends what was pressed at once; otherwise the digits go when no key has been pressed for
:data:`DTMF_SETTLE_S`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

DTMF_SETTLE_S = 1.2


class KeypadInput:
    def __init__(self, on_digits: Callable[[str], Awaitable[None]], settle_s: float = DTMF_SETTLE_S) -> None:
        self.on_digits = on_digits  # called with the digits pressed, space-separated ("4 2 #")
        self.settle_s = settle_s
        self._digits: list[str] = []
        self._settle: asyncio.Task[None] | None = None

    async def press(self, digit: str) -> None:
        self._digits.append(digit)
        if self._settle is not None:
            self._settle.cancel()
        if digit == "#":
            await self._flush()
        else:
            self._settle = asyncio.create_task(self._after_settle())

    def close(self) -> None:
        if self._settle is not None:
            self._settle.cancel()

    async def _after_settle(self) -> None:
        await asyncio.sleep(self.settle_s)
        await self._flush()

    async def _flush(self) -> None:
        digits, self._digits = " ".join(self._digits), []
        if digits:
            await self.on_digits(digits)
