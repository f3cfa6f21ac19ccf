"""The session's parts on their own: keypad entry and what the caller heard of an interrupted utterance."""
from __future__ import annotations

import asyncio

from streaming.pipeline.barge_in import heard_text
from streaming.pipeline.keypad import KeypadInput
from streaming.pipeline.output import Utterance


def test_keypad_digits_pressed_together_become_one_turn_and_hash_sends_at_once() -> None:
    async def scenario() -> list[str]:
        turns: list[str] = []
        arrived = asyncio.Event()

        async def on_digits(digits: str) -> None:
            turns.append(digits)
            arrived.set()

        keypad = KeypadInput(on_digits, settle_s=0.05)
        for digit in "12":
            await keypad.press(digit)
        await arrived.wait()  # no '#': sent once the keypad has been quiet for the settle time
        for digit in "34#":
            await keypad.press(digit)
        keypad.close()
        return turns

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == ["1 2", "3 4 #"]


def test_an_interrupted_utterance_keeps_the_heard_phrases_and_the_played_part_of_the_cut_one() -> None:
    utterance = Utterance()
    first = utterance.new_phrase("Sure, I can help.")
    first.heard = True
    cut = utterance.new_phrase("Our opening hours are eight to six")
    cut.frames, cut.sent = [b"\xff" * 160] * 10, 5  # half of it played when the caller spoke
    utterance.new_phrase("on weekdays.")
    assert heard_text(utterance) == "Sure, I can help. Our opening hours are"
