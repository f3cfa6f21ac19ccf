"""One live conversation: caller audio in, agent speech out, interruptible.

Flow of a caller turn: the turn detector sees speech start (barge-in if the agent is audible),
a pause (batch STT engines transcribe and the reply is drafted while the silence runs on: held,
not played) and the end of turn (the draft is released, or the reply starts now). A reply streams
LLM tokens into phrases, each phrase into TTS, each TTS chunk into the output as it comes.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streaming.engines.base import ChatMessage, LlmEngine, LlmOptions, SttEngine, SttStream, TtsEngine, VadEngine
from streaming.pipeline.conversation import Conversation, Turn, heard_part
from streaming.pipeline.frames import (
    EndOfTurn,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnFrame,
)
from streaming.pipeline.metrics import TurnMetrics
from streaming.pipeline.output import AgentOutput, FrameClock, OutputSink, PacingStats, Utterance
from streaming.pipeline.phrases import PhraseSplitter
from streaming.pipeline.prompt import AgentProfile, fill_variables, messages_for
from streaming.pipeline.recorder import StereoRecorder
from streaming.pipeline.turns import DEFAULT_SILENCE_TIMEOUT_MS, TurnConfig, TurnDetector

log = logging.getLogger("parley.streaming.session")
DTMF_SETTLE_S = 1.2


@dataclass(frozen=True)
class SessionEngines:
    vad: VadEngine
    stt: SttEngine
    llm: LlmEngine
    tts: TtsEngine


@dataclass(eq=False)
class Reply:
    """The agent's answer to one caller turn (or to keypad digits)."""

    metrics: TurnMetrics
    utterance: Utterance
    stt: SttStream | None
    user_started_at: float
    user_text: str | None = None
    committed: bool = False  # the user turn is in the conversation
    task: asyncio.Task[None] | None = None
    source: str = "speech"

    def engine_time(self, stage: str, started: float, ended: float) -> None:
        self.metrics.engine_s[stage] = self.metrics.engine_s.get(stage, 0.0) + (ended - started)


@dataclass
class BargeIn:
    first_speech_at: float
    clear_sent_at: float

    @property
    def latency_ms(self) -> float:
        return round(1000 * (self.clear_sent_at - self.first_speech_at), 1)


class VoiceSession:
    def __init__(self, profile: AgentProfile, call_context: dict[str, Any], engines: SessionEngines,
                 sink: OutputSink, hang_up: Callable[[], Awaitable[None]], pacing: PacingStats | None = None,
                 clock: FrameClock | None = None) -> None:
        self.profile = profile
        self.call_context = call_context
        self.engines = engines
        self.sink = sink
        self._hang_up = hang_up
        self.conversation = Conversation()
        self.recorder = StereoRecorder(self.conversation.t0)
        silence = profile.silence_timeout_ms or DEFAULT_SILENCE_TIMEOUT_MS
        self.turn_config = TurnConfig(silence_timeout_ms=silence, pause_ms=min(TurnConfig.pause_ms, silence))
        self.detector = TurnDetector(engines.vad.new_stream(), self.turn_config)
        self.output = AgentOutput(sink, on_frame=self.recorder.agent_frame, on_finished=self._utterance_finished,
                                  pacing=pacing, clock=clock)
        self.metrics: list[TurnMetrics] = []
        self.barge_ins: list[BargeIn] = []
        self.errors: list[str] = []
        self._stt: SttStream | None = None
        self._draft: Reply | None = None  # speculative, not yet released
        self._replies: set[Reply] = set()
        self._carry_text = ""
        self._user_started_at = 0.0
        self._last_utterance: tuple[Utterance, Turn | None] | None = None
        self._dtmf: list[str] = []
        self._dtmf_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._turns = 0
        self.closed = False
        self.ending = False  # the agent decided to hang up

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.output.start()
        history: list[ChatMessage] = []
        if self.profile.welcome_message:
            text = fill_variables(self.profile.welcome_message, self.call_context)
            utterance = Utterance(interruptible=self.profile.welcome_interruptible, source="welcome")
            utterance.released.set()
            self.output.enqueue(utterance)
            self._spawn(self._speak_text(utterance, text))
            history.append(ChatMessage("assistant", text))
        prefill = getattr(self.engines.llm, "prefill", None)
        if prefill is not None:  # evaluate the agent's prompt while the welcome message plays
            self._spawn(self._quietly(prefill(messages_for(self.profile, self.call_context, history))))

    async def _quietly(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.warning("LLM prefill failed; the first reply will evaluate the prompt itself", exc_info=True)

    async def close(self) -> None:
        """Stop everything; the transcript keeps only what the caller heard."""
        if self.closed:
            return
        self.closed = True
        playing = self.output.current
        for reply in list(self._replies):
            if reply.task is not None:
                reply.task.cancel()
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        for task in self._background:
            task.cancel()
        tasks = [r.task for r in self._replies if r.task is not None]
        await asyncio.gather(*tasks, *self._background, return_exceptions=True)
        await self.output.close()
        if playing is not None and playing.started:
            self._record_agent_turn(playing, interrupted=True)
        if self._stt is not None:
            await self._close_stt(self._stt)

    # ---------------------------------------------------------------- inbound

    async def on_audio(self, mulaw: bytes, at: float) -> None:
        """One carrier frame of caller audio (8 kHz mu-law) that arrived at ``at``."""
        self.recorder.caller_frame(mulaw)
        events = self.detector.push(mulaw, at)
        if not events and self._stt is None:
            return
        for event in events:
            await self._on_turn(event)
        audio = self.detector.take_audio()
        if audio and self._stt is not None:
            self._stt.feed(audio)

    def on_mark(self, name: str) -> None:
        self.output.mark_played(name)

    async def on_dtmf(self, digit: str) -> None:
        self._dtmf.append(digit)
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        if digit == "#":
            await self._flush_dtmf()
        else:
            self._dtmf_task = asyncio.create_task(self._dtmf_after_settle())

    async def _dtmf_after_settle(self) -> None:
        await asyncio.sleep(DTMF_SETTLE_S)
        await self._flush_dtmf()

    async def _flush_dtmf(self) -> None:
        digits, self._dtmf = " ".join(self._dtmf), []
        if not digits:
            return
        now = time.monotonic()
        await self._interrupt_if_audible(now)
        reply = self._new_reply(TurnMetrics(turn=self._next_turn(), end_of_speech=now, end_of_turn=now,
                                            silence_timeout_ms=0), stt=None, source="dtmf")
        reply.user_text = f"(The caller pressed keypad keys: {digits})"
        reply.utterance.released.set()
        self._start_reply(reply)

    async def _on_turn(self, event: TurnFrame) -> None:
        if isinstance(event, SpeechStarted):
            await self._speech_started(event)
        elif isinstance(event, SpeechPaused):
            if not self.engines.stt.streaming and self._stt is not None and self._draft is None:
                reply = self._new_reply(TurnMetrics(turn=self._turns + 1, end_of_speech=event.last_speech_at,
                                                    silence_timeout_ms=self.turn_config.silence_timeout_ms,
                                                    speculative=True), stt=self._stt)
                self._draft = reply
                self._start_reply(reply)
        elif isinstance(event, SpeechResumed):
            self._drop_draft()
        elif isinstance(event, EndOfTurn):
            await self._end_of_turn(event)

    async def _speech_started(self, event: SpeechStarted) -> None:
        self._user_started_at = event.first_speech_at
        if self._stt is None:
            self._stt = self.engines.stt.open(self.profile.language)
        await self._interrupt_if_audible(event.first_speech_at)
        # A reply still being prepared answers words the caller is now adding to: start over with both.
        for reply in list(self._replies):
            if not reply.utterance.started and reply is not self._draft:
                if reply.user_text and not reply.committed:
                    self._carry_text = f"{reply.user_text} {self._carry_text}".strip()
                self._cancel_reply(reply)

    async def _interrupt_if_audible(self, first_speech_at: float) -> None:
        current = self.output.current
        audible = self.output.audible
        if not audible or not self.profile.interruptions:
            return
        if current is not None and not current.interruptible:
            return
        interrupted = await self.output.interrupt()
        self.barge_ins.append(BargeIn(first_speech_at, time.monotonic()))
        for reply in list(self._replies):
            if reply is not self._draft:
                self._cancel_reply(reply)
        if interrupted is not None:
            self._record_agent_turn(interrupted, interrupted=True)
        elif self._last_utterance is not None:
            utterance, turn = self._last_utterance
            if turn is not None and not all(p.heard for p in utterance.phrases):
                heard = _heard_text(utterance)
                turn.interrupted, turn.generated, turn.text = True, turn.text, heard
        self.ending = False

    async def _end_of_turn(self, event: EndOfTurn) -> None:
        self._turns += 1
        stt, self._stt = self._stt, None
        draft, self._draft = self._draft, None
        if draft is not None and draft.stt is stt:
            draft.metrics.end_of_turn = event.at
            draft.metrics.turn = self._turns
            draft.utterance.released.set()
            self._commit_user(draft)
            if draft.task is not None and draft.task.done() and draft.stt is not None:
                self._spawn(self._close_stt(draft.stt))
            return
        if stt is None:
            return
        metrics = TurnMetrics(turn=self._turns, end_of_speech=event.last_speech_at, end_of_turn=event.at,
                              silence_timeout_ms=self.turn_config.silence_timeout_ms)
        reply = self._new_reply(metrics, stt=stt)
        reply.utterance.released.set()
        self._start_reply(reply)

    # ---------------------------------------------------------------- replies

    def _next_turn(self) -> int:
        self._turns += 1
        return self._turns

    def _new_reply(self, metrics: TurnMetrics, stt: SttStream | None, source: str = "speech") -> Reply:
        utterance = Utterance(interruptible=True)
        reply = Reply(metrics=metrics, utterance=utterance, stt=stt, user_started_at=self._user_started_at,
                      source=source)
        utterance.on_first_frame = lambda at: reply.metrics.mark("first_audio_out", at)
        return reply

    def _start_reply(self, reply: Reply) -> None:
        self._replies.add(reply)
        self.output.enqueue(reply.utterance)
        reply.task = asyncio.create_task(self._run_reply(reply), name=f"reply-{reply.metrics.turn}")
        reply.task.add_done_callback(lambda _t: self._replies.discard(reply))

    def _drop_draft(self) -> None:
        if self._draft is not None:
            self._cancel_reply(self._draft)
            self._draft = None

    def _cancel_reply(self, reply: Reply) -> None:
        self.output.drop_unstarted(reply.utterance)
        if reply.task is not None:
            reply.task.cancel()
        self._replies.discard(reply)

    async def _run_reply(self, reply: Reply) -> None:
        metrics = reply.metrics
        try:
            if reply.user_text is None and reply.stt is not None:
                started = time.monotonic()
                metrics.mark("stt_started", started)
                text = (await reply.stt.transcript()).strip()
                ended = time.monotonic()
                metrics.stt_final = ended
                reply.engine_time("stt", started, ended)
                reply.user_text = f"{self._carry_text} {text}".strip() if text else ""
            if not reply.user_text:
                self.output.drop_unstarted(reply.utterance)
                return
            if reply.utterance.released.is_set():
                self._commit_user(reply)
            else:
                history = [*self.conversation.history(), ChatMessage("user", reply.user_text)]
                await self._generate(reply, history)
                return
            await self._generate(reply, self.conversation.history())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an engine failed: say so in the call record, keep the call up
            log.exception("reply failed")
            self.errors.append(f"turn {metrics.turn}: {type(error).__name__}: {error}"[:300])
            self.output.drop_unstarted(reply.utterance)
        finally:
            if reply.stt is not None and reply.stt is not self._stt and reply is not self._draft:
                await self._close_stt(reply.stt)
            reply.utterance.done()

    def _commit_user(self, reply: Reply) -> None:
        if reply.committed or not reply.user_text:
            return
        reply.committed = True
        self._carry_text = ""
        self.metrics.append(reply.metrics)
        self.conversation.add_user(reply.user_text, reply.user_started_at, reply.metrics.end_of_speech,
                                   source=reply.source)

    async def _generate(self, reply: Reply, history: list[ChatMessage]) -> None:
        profile = self.profile
        options = LlmOptions(temperature=profile.temperature, max_tokens=profile.max_tokens, model=profile.llm_model)
        phrases: asyncio.Queue[str | None] = asyncio.Queue()
        splitter = PhraseSplitter()
        speaker = asyncio.create_task(self._speak_phrases(reply, phrases))
        llm_started = time.monotonic()
        first_phrase = True
        stream = self.engines.llm.stream(messages_for(profile, self.call_context, history), options)
        try:
            async for token in stream:
                if reply.metrics.llm_first_token is None:
                    reply.metrics.mark("llm_first_token", time.monotonic())
                for phrase in splitter.push(token):
                    if first_phrase:
                        reply.engine_time("llm", llm_started, time.monotonic())
                        first_phrase = False
                    phrases.put_nowait(phrase)
            for phrase in splitter.flush():
                if first_phrase:
                    reply.engine_time("llm", llm_started, time.monotonic())
                    first_phrase = False
                phrases.put_nowait(phrase)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            phrases.put_nowait(None)
        reply.utterance.hang_up_after = splitter.end_call
        await speaker

    async def _speak_phrases(self, reply: Reply, phrases: asyncio.Queue[str | None]) -> None:
        first = True
        while (text := await phrases.get()) is not None:
            started = time.monotonic()
            phrase = reply.utterance.new_phrase(text)
            async for pcm in self._tts(text):
                if first:
                    now = time.monotonic()
                    reply.metrics.mark("tts_first_audio", now)
                    reply.engine_time("tts", started, now)
                    first = False
                reply.utterance.add_audio(phrase, pcm, self.engines.tts.sample_rate)
            reply.utterance.end_phrase(phrase)

    async def _speak_text(self, utterance: Utterance, text: str) -> None:
        try:
            splitter = PhraseSplitter()
            for sentence in splitter.push(text) + splitter.flush():
                phrase = utterance.new_phrase(sentence)
                async for pcm in self._tts(sentence):
                    utterance.add_audio(phrase, pcm, self.engines.tts.sample_rate)
                utterance.end_phrase(phrase)
        except Exception as error:
            log.exception("welcome message failed")
            self.errors.append(f"welcome: {type(error).__name__}: {error}"[:300])
        finally:
            utterance.done()

    def _tts(self, text: str):  # noqa: ANN202 - an async iterator of PCM chunks
        return self.engines.tts.synthesize(text, self.profile.voice_id, self.profile.speech_speed)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- outbound bookkeeping

    async def _utterance_finished(self, utterance: Utterance) -> None:
        turn = self._record_agent_turn(utterance, interrupted=False)
        self._last_utterance = (utterance, turn)
        if utterance.hang_up_after and not self.closed:
            self.ending = True
            # Let the carrier play the last frames before the line drops.
            await asyncio.sleep(0.3)
            if self.ending:
                await self._hang_up()

    def _record_agent_turn(self, utterance: Utterance, *, interrupted: bool) -> Turn | None:
        if utterance.first_frame_at is None:
            return None
        text = _heard_text(utterance) if interrupted else utterance.generated_text()
        return self.conversation.add_agent(
            text, utterance.first_frame_at, utterance.last_frame_at or utterance.first_frame_at,
            interrupted=interrupted, generated=utterance.generated_text() if interrupted else None,
            source=utterance.source)

    async def _close_stt(self, stt: SttStream) -> None:
        with contextlib.suppress(Exception):
            await stt.close()


def _heard_text(utterance: Utterance) -> str:
    words: list[str] = []
    for phrase in utterance.phrases:
        if phrase.heard:
            words.append(phrase.text)
            continue
        part = heard_part(phrase.text, phrase.played_fraction)
        if part:
            words.append(part)
        break
    return " ".join(words)
