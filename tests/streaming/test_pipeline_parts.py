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


def test_the_llm_is_not_read_while_the_first_phrase_is_synthesized_and_resumes_once_it_has_audio() -> None:
    """The TTS of the phrase the caller waits for gets the CPU: no token is taken from the LLM between the
    first phrase's cut and its first audio; the rest of the reply follows."""
    from collections.abc import AsyncIterator

    from chalicelib.domain.agent_settings import AgentSettings
    from streaming.engines.base import ChatMessage, LlmOptions
    from streaming.pipeline.metrics import TurnMetrics
    from streaming.pipeline.replies import AgentReply, ReplyGenerator

    words = ["Yes", "we", "open", "at", "seven", "on", "Saturday", "and", "close", "at", "six", "in", "the", "evening."]
    pulled: list[int] = []
    at_first_audio: list[int] = []
    release = asyncio.Event()

    class Llm:
        name = "counting"

        async def stream(self, messages: list[ChatMessage], options: LlmOptions) -> AsyncIterator[str]:
            for index, word in enumerate(words):
                pulled.append(index)
                yield word + " "

    class Tts:
        name = "gated"
        sample_rate = 8000

        async def synthesize(self, text: str, voice_id: str | None = None,
                             speed: float = 1.0) -> AsyncIterator[bytes]:
            if not at_first_audio:
                await release.wait()
                at_first_audio.append(len(pulled))
            yield b"\x00\x00" * 160

    async def scenario() -> list[str]:
        generator = ReplyGenerator(AgentSettings.from_stored({}), {}, Llm(), Tts())  # type: ignore[arg-type]  # engine fakes
        reply = AgentReply(metrics=TurnMetrics(turn=1, end_of_speech=0.0), utterance=Utterance(), stt=None,
                           user_started_at=0.0)
        task = asyncio.create_task(generator.generate(reply, [ChatMessage("user", "When do you open?")]))
        while not reply.utterance.phrases:
            await asyncio.sleep(0.001)
        for _ in range(20):
            await asyncio.sleep(0.001)  # the writer would have gone on by now if it could
        held = len(pulled)
        release.set()
        await asyncio.wait_for(task, 10)
        assert held == at_first_audio[0] == 5  # the first phrase (4 words) was cut when the 5th came: no more
        return [phrase.text for phrase in reply.utterance.phrases]

    phrases = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert phrases == ["Yes we open at", "seven on Saturday and close at six in the evening."]
    assert len(pulled) == len(words)
