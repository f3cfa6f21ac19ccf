"""One live conversation: caller audio in, agent speech out, interruptible.

The session wires the parts of a call together and owns its life (start, close, the agent hanging up):
the turn detector turns caller audio into turn frames; :mod:`~streaming.pipeline.turn_taking` answers
each turn (drafting early, releasing at the end of turn); :mod:`~streaming.pipeline.replies` streams
LLM tokens into phrases and phrases into TTS; :mod:`~streaming.pipeline.barge_in` stops the agent when
the caller talks over it; :mod:`~streaming.pipeline.keypad` turns keypad digits into a turn.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.agent_settings import AgentSettings
from streaming.audio import resample
from streaming.engines.base import ChatMessage, LlmEngine, SttEngine, TtsEngine, TurnEndEngine, VadEngine
from streaming.engines.errors import EngineError
from streaming.pipeline.background import Ambience, Background
from streaming.pipeline.barge_in import AgentTurns, BargeIn, Interruption
from streaming.pipeline.conversation import Conversation
from streaming.pipeline.end_of_turn import JudgeConfig, judge
from streaming.pipeline.filler import Fillers
from streaming.pipeline.frames import EndOfTurn, SpeechPaused, SpeechResumed, SpeechStarted, TurnFrame
from streaming.pipeline.keypad import KeypadInput
from streaming.pipeline.live_events import LiveEvents
from streaming.pipeline.metrics import TurnMetrics
from streaming.pipeline.output import (
    TELEPHONY_RATE,
    AgentOutput,
    FrameClock,
    OutputSink,
    PacingStats,
    Phrase,
    Utterance,
)
from streaming.pipeline.prompt import fill_variables
from streaming.pipeline.recorder import StereoRecorder
from streaming.pipeline.replies import ReplyGenerator
from streaming.pipeline.tool_calls import CallTools
from streaming.pipeline.turn_taking import TurnTaking
from streaming.pipeline.turns import TurnConfig, TurnDetector

log = logging.getLogger("parley.streaming.session")
HANG_UP_GRACE_S = 0.3  # let the carrier play the last frames before the line drops
DEFAULT_FILLER_AFTER_S = 1.0  # an agent's filler enabled without after_sec


@dataclass(frozen=True)
class SessionEngines:
    vad: VadEngine
    stt: SttEngine
    llm: LlmEngine
    tts: TtsEngine
    llm_model: str | None = None  # the model id the LLM engine is asked for (None: the engine's own)
    turn: TurnEndEngine | None = None  # semantic end of turn (None: the silence timeout alone ends turns)


class VoiceSession:
    """The call core's conversation. Audio in and out is 16-bit mono PCM at ``media_rate`` (the transport's)."""

    def __init__(self, agent: AgentSettings, call_context: dict[str, Any], engines: SessionEngines,
                 sink: OutputSink, hang_up: Callable[[], Awaitable[None]], pacing: PacingStats | None = None,
                 clock: FrameClock | None = None, media_rate: int = TELEPHONY_RATE,
                 account_id: int | None = None) -> None:
        self.agent = agent
        self.call_context = call_context
        self.engines = engines
        self.media_rate = media_rate
        self._hang_up = hang_up
        self.events = LiveEvents()
        self.conversation = Conversation()
        self.recorder = StereoRecorder(self.conversation.t0, rate=media_rate)
        silence = agent.silence_timeout_ms
        self.turn_config = TurnConfig(silence_timeout_ms=silence, pause_ms=min(TurnConfig.pause_ms, silence))
        self.detector = TurnDetector(engines.vad.new_stream(), self.turn_config, input_rate=media_rate)
        clock = clock or FrameClock()
        ambience = Ambience.for_agent(agent.background_track, media_rate, on_frame=self.recorder.agent_frame)
        self.background = Background(sink, ambience, clock, pacing)  # the recorder gets the mix from it
        self.output = AgentOutput(self.background.sink, on_frame=None if self.background.mixing
                                  else self.recorder.agent_frame, on_finished=self._utterance_finished,
                                  pacing=pacing, clock=clock, on_phrase=self._phrase_playing)
        self.errors: list[str] = []
        self.tools = CallTools.for_call(agent, engines.llm, engines.tts, media_rate,  # end_call, web_search
                                        account_id=account_id)
        self.replies = ReplyGenerator(agent, call_context, engines.llm, engines.tts, engines.llm_model, self.tools)
        filler = agent.filler
        self.fillers = Fillers(DEFAULT_FILLER_AFTER_S if filler.after_sec is None else filler.after_sec, engines.tts,
                               agent.voice_id, agent.speech_speed, media_rate, self.output) \
            if filler is not None and filler.enabled else None
        self.turns = TurnTaking(engines.stt, agent.language, silence, self.output, self.conversation, self.replies,
                                self.errors, self._spawn, self.events, media_rate=media_rate, fillers=self.fillers,
                                on_partial=self._prefill_partial)
        self.agent_turns = AgentTurns(self.conversation, self.events)
        self.barge_in = BargeIn(self.output, self.agent_turns, allowed=agent.interruptions)
        self.keypad = KeypadInput(self._keypad_turn)
        self._background: set[asyncio.Future[None]] = set()
        self._caller_quiet = asyncio.Event()
        self._caller_quiet.set()
        self._pauses = 0  # counts the caller's pauses: a judge's verdict only applies to the pause it judged
        self.judge_config = JudgeConfig()
        self.closed = False
        self.ending = False  # the agent decided to hang up
        self.voicemail = False  # an answering machine took the call: no more turns, the message, then hang up

    @property
    def metrics(self) -> list[TurnMetrics]:
        return self.turns.metrics

    @property
    def barge_ins(self) -> list[Interruption]:
        return self.barge_in.interruptions

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.background.start()
        self.output.start()
        history: list[ChatMessage] = []
        if self.agent.welcome_message:
            text = fill_variables(self.agent.welcome_message, self.call_context)
            utterance = Utterance(interruptible=self.agent.welcome_interruptible, source="welcome",
                                  rate=self.media_rate)
            utterance.released.set()
            self.output.enqueue(utterance)
            self._spawn(self._welcome(utterance, text))
            history.append(ChatMessage("assistant", text))
        if self.fillers is not None:
            self._spawn(self._quietly(self.fillers.prepare(), "filler phrases not synthesized; no fillers"))
        if self.tools is not None:
            self._spawn(self._quietly(self.tools.prepare(), "lookup filler not synthesized; it is spoken as text"))
        prefill = self.replies.prefill(history)
        if prefill is not None:  # evaluate the agent's prompt while the welcome message plays
            self._spawn(self._quietly(prefill))

    async def _welcome(self, utterance: Utterance, text: str) -> None:
        try:
            await self.replies.speak(utterance, text)
        except Exception as error:
            log.exception("welcome message failed")
            self.errors.append(f"welcome: {type(error).__name__}: {error}"[:300])

    async def _quietly(self, work: Awaitable[None],
                       failure: str = "LLM prefill failed; the first reply will evaluate the prompt itself") -> None:
        try:
            await work
        except Exception:
            log.warning(failure, exc_info=True)

    async def close(self) -> None:
        """Stop everything; the transcript keeps only what the caller heard."""
        if self.closed:
            return
        self.closed = True
        self._caller_quiet.set()  # a supervisor's say waiting for the caller gives up (it checks ``closed``)
        playing = self.output.current
        replies = self.turns.cancel_all()
        self.keypad.close()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*replies, *self._background, return_exceptions=True)
        await self.output.close()
        self.background.close()
        if playing is not None and playing.started:
            self.agent_turns.record(playing, interrupted=True)
        await self.turns.close()

    # ---------------------------------------------------------------- inbound

    async def on_audio(self, pcm16: bytes, at: float) -> None:
        """One transport frame of caller audio (PCM16 at ``media_rate``) that arrived at ``at``."""
        self.recorder.caller_frame(pcm16)
        if self.voicemail:
            return  # a machine is recording: nothing it plays is a turn to answer or a barge-in
        events = self.detector.push(pcm16, at)
        if not events and not self.turns.listening:
            return
        for event in events:
            await self._on_turn(event)
        audio = self.detector.take_audio()
        if audio:  # at the VAD's rate: the STT's may differ (the energy VAD works at 8 kHz)
            self.turns.feed(resample(audio, self.detector.vad.sample_rate, self.engines.stt.sample_rate))

    def on_mark(self, name: str) -> None:
        self.output.mark_played(name)

    async def on_dtmf(self, digit: str) -> None:
        await self.keypad.press(digit)

    async def _keypad_turn(self, digits: str) -> None:
        now = time.monotonic()
        await self._interrupt_if_audible(now)
        self.turns.keypad_turn(digits, now)

    async def _on_turn(self, event: TurnFrame) -> None:
        if isinstance(event, SpeechStarted):
            self._caller_quiet.clear()
            self.turns.caller_started(event.first_speech_at)
            await self._interrupt_if_audible(event.first_speech_at)
            self.turns.answer_all_words()
            self._prefill_caller_turn()
        elif isinstance(event, SpeechPaused):
            self._pauses += 1
            self.turns.caller_paused(event)
            if self.engines.turn is not None:
                self._spawn(self._judge_pause(self._pauses))
        elif isinstance(event, SpeechResumed):
            self._pauses += 1
            self.turns.caller_resumed()
        elif isinstance(event, EndOfTurn):
            self.turns.end_of_turn(event)
            self._caller_quiet.set()

    def _prefill_caller_turn(self) -> None:
        """The caller started talking: have the LLM evaluate the conversation so far up to their (empty) turn
        while they speak, so the reply drafted at their pause only evaluates their words. Skipped while a
        reply is being written (the model is busy; its own prompt is already in the cache)."""
        if self.turns.writing:
            return
        prefill = self.replies.prefill([*self.conversation.history(), ChatMessage("user", "")])
        if prefill is not None:
            self._spawn(self._quietly(prefill))

    def _prefill_partial(self, words: str) -> None:
        """The caller's words so far (a partial transcript): have the LLM evaluate them while they go on, so
        the draft at their pause only evaluates what they said since. Skipped while a reply is being written."""
        if self.turns.writing:
            return
        prefill = self.replies.prefill([*self.conversation.history(), ChatMessage("user", words)])
        if prefill is not None:
            self._spawn(self._quietly(prefill))

    async def _judge_pause(self, pause: int) -> None:
        """At a short pause: end the turn now if it sounds finished, wait longer if it sounds unfinished
        (:mod:`~streaming.pipeline.end_of_turn`). A failing model leaves the silence timeout in charge."""
        engine = self.engines.turn
        assert engine is not None
        audio = resample(self.detector.turn_audio(), self.detector.vad.sample_rate, engine.sample_rate)
        try:
            probability: float | None = await engine.complete_probability(audio)
        except EngineError as error:  # busy (too many calls checking at once) or failed: silence decides
            log.debug("end-of-turn model unavailable for this pause: %s", error)
            probability = None
        except Exception:
            log.warning("end-of-turn model failed; the silence timeout ends this turn", exc_info=True)
            probability = None
        transcript = await self.turns.draft_transcript()
        if pause != self._pauses or self.closed or not self.detector.paused:
            return  # the caller went on (or the turn already ended on silence): the verdict is moot
        verdict = judge(probability, transcript, self.judge_config)
        self.turns.note_turn_probability(probability)
        if verdict.outcome == "complete":
            for event in self.detector.end_now(time.monotonic()):
                await self._on_turn(event)
        elif verdict.outcome == "incomplete":
            self.detector.wait_longer(self.judge_config.incomplete_ms)

    async def _interrupt_if_audible(self, first_speech_at: float) -> None:
        if await self.barge_in.interrupt_if_audible(first_speech_at):
            self.turns.cancel_replies()
            self.ending = False
            self.events.barge_in(self.barge_in.interruptions[-1].latency_ms)
            self.events.set_state("listening")

    # ---------------------------------------------------------------- supervisor controls

    async def say(self, text: str) -> None:
        """Speak ``text`` next: after what is queued to play, never over the caller (waits for their turn
        to end). It enters the transcript (and so the LLM's history) as the agent's, source "supervisor"."""
        await self._caller_quiet.wait()
        if self.closed:
            return
        utterance = Utterance(interruptible=True, source="supervisor", rate=self.media_rate)
        utterance.released.set()
        self.output.enqueue(utterance)
        await self.replies.speak(utterance, text)

    async def leave_voicemail(self) -> None:
        """An answering machine took the call and its greeting is over: stop whatever plays, leave the agent's
        voicemail message (its ``voicemail.message``; none: just hang up), then hang up."""
        if self.closed or self.voicemail:
            return
        self.voicemail = True
        for task in self.turns.cancel_all():
            task.cancel()
        interrupted = await self.output.interrupt()
        if interrupted is not None:
            self.agent_turns.record(interrupted, interrupted=True)
        settings = self.agent.voicemail
        message = fill_variables(settings.message, self.call_context) if settings and settings.message else ""
        if not message.strip():
            self.ending = True
            await self._hang_up()
            return
        utterance = Utterance(interruptible=False, source="voicemail", rate=self.media_rate)
        utterance.hang_up_after = True
        utterance.released.set()
        self.output.enqueue(utterance)
        await self.replies.speak(utterance, message)

    async def end_after_current(self) -> None:
        """Hang up once what is playing or queued has been heard; at once when the agent is silent."""
        queued = [u for u in self.output.queue if not u.cancelled]
        last = queued[-1] if queued else self.output.current
        if last is not None and not last.cancelled:
            last.hang_up_after = True
            return
        self.ending = True
        await self._hang_up()

    # ---------------------------------------------------------------- outbound

    def _phrase_playing(self, utterance: Utterance, phrase: Phrase) -> None:
        self.events.set_state("agent_speaking")
        said = utterance.phrases[:utterance.phrases.index(phrase) + 1]
        self.events.caption("assistant", " ".join(p.text for p in said), final=False, turn=utterance.uid)

    async def _utterance_finished(self, utterance: Utterance) -> None:
        self.agent_turns.finished(utterance)
        if not self.output.queue:
            self.events.set_state("listening")
        if utterance.hang_up_after and not self.closed:
            self.ending = True
            await asyncio.sleep(HANG_UP_GRACE_S)
            if self.ending:
                await self._hang_up()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
