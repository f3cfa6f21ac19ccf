"""Turn taking: each caller turn (or keypad entry) gets one agent reply, drafted early when it can be.

At a pause, a batch STT engine transcribes and the reply is drafted while the silence runs on: held,
not played. At the end of the turn the draft is released (or, with no draft, the reply starts now).
Speech resuming drops the draft. A reply still being prepared when the caller adds words is cancelled
and its words are carried into the next turn, so the agent answers everything the caller said.

While the caller speaks, a batch STT also transcribes what they said so far every ``partial_every_ms`` of their
speech (one at a time): the words become a partial caption and go to ``on_partial`` (the session has the LLM
evaluate them, so the draft at the pause only evaluates the last few words).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from streaming.engines.base import ChatMessage, SttEngine, SttStream
from streaming.pipeline.conversation import Conversation
from streaming.pipeline.filler import Fillers
from streaming.pipeline.frames import EndOfTurn, SpeechPaused
from streaming.pipeline.live_events import LiveEvents
from streaming.pipeline.metrics import TurnMetrics
from streaming.pipeline.output import TELEPHONY_RATE, AgentOutput, Utterance
from streaming.pipeline.replies import AgentReply, ReplyGenerator

log = logging.getLogger("parley.streaming.session")
PARTIAL_EVERY_MS = 640  # of caller speech between partial transcripts (Whisper tiny: ~70 ms for 2 s on 2 cores)


class TurnTaking:
    def __init__(self, stt: SttEngine, language: str, silence_timeout_ms: int, output: AgentOutput,
                 conversation: Conversation, generator: ReplyGenerator, errors: list[str],
                 spawn: Callable[[Awaitable[None]], None], events: LiveEvents | None = None,
                 media_rate: int = TELEPHONY_RATE, fillers: Fillers | None = None,
                 on_partial: Callable[[str], None] | None = None, partial_every_ms: int = PARTIAL_EVERY_MS) -> None:
        self.media_rate = media_rate
        self.on_partial = on_partial
        self.partial_every_ms = partial_every_ms  # 0: no partial transcripts
        self.fillers = fillers
        self.stt_engine = stt
        self.events = events or LiveEvents()
        self.language = language
        self.silence_timeout_ms = silence_timeout_ms
        self.output = output
        self.conversation = conversation
        self.generator = generator
        self.errors = errors  # a failed reply is noted here (the call record), the call stays up
        self.metrics: list[TurnMetrics] = []  # one per committed caller turn
        self._spawn = spawn
        self._stt: SttStream | None = None  # the caller's current utterance
        self._draft: AgentReply | None = None  # speculative, not yet released
        self._replies: set[AgentReply] = set()
        self._carry_text = ""
        self._user_started_at = 0.0
        self._turns = 0
        self._turn_probability: float | None = None  # the judge's score at the caller's latest pause
        self._heard_ms = 0.0  # the current utterance's audio so far
        self._partial_at_ms = 0.0  # ... when its latest partial transcript started
        self._partial_running = False

    # ---------------------------------------------------------------- caller speech

    @property
    def writing(self) -> bool:
        """A reply is being written (its task runs)."""
        return any(reply.task is not None and not reply.task.done() for reply in self._replies)

    @property
    def listening(self) -> bool:
        """A caller utterance is being transcribed."""
        return self._stt is not None

    def feed(self, audio: bytes) -> None:
        if self._stt is None:
            return
        self._stt.feed(audio)
        self._heard_ms += 1000 * len(audio) / (2 * self.stt_engine.sample_rate)
        if (self.partial_every_ms and not self.stt_engine.streaming and not self._partial_running
                and self._draft is None and self._heard_ms - self._partial_at_ms >= self.partial_every_ms):
            self._partial_at_ms = self._heard_ms
            self._partial_running = True
            self._spawn(self._partial(self._stt, self._turns + 1))

    async def _partial(self, stt: SttStream, turn: int) -> None:
        try:
            text = (await stt.transcript()).strip()
        except Exception:  # the transcript at the pause will say it again, or fail the reply
            log.debug("partial transcript failed", exc_info=True)
            return
        finally:
            self._partial_running = False
        if not text or stt is not self._stt or self._draft is not None:
            return  # the turn ended or paused meanwhile: the draft has newer words
        words = f"{self._carry_text} {text}".strip()
        self.events.caption("user", words, final=False, turn=turn)
        if self.on_partial is not None:
            self.on_partial(words)

    def caller_started(self, first_speech_at: float) -> None:
        self._user_started_at = first_speech_at
        self._turn_probability = None
        if self._stt is None:
            self._stt = self.stt_engine.open(self.language)
            self._heard_ms = self._partial_at_ms = 0.0

    def answer_all_words(self) -> None:
        """A reply still being prepared answers words the caller is now adding to: start over with both."""
        for reply in list(self._replies):
            if not reply.utterance.started and reply is not self._draft:
                if reply.user_text and not reply.committed:
                    self._carry_text = f"{reply.user_text} {self._carry_text}".strip()
                self._cancel_reply(reply)

    def caller_paused(self, event: SpeechPaused) -> None:
        if not self.stt_engine.streaming and self._stt is not None and self._draft is None:
            reply = self._new_reply(TurnMetrics(turn=self._turns + 1, end_of_speech=event.last_speech_at,
                                                silence_timeout_ms=self.silence_timeout_ms, speculative=True),
                                    stt=self._stt)
            self._draft = reply
            self._start_reply(reply)

    async def draft_transcript(self, timeout_s: float = 1.0) -> str:
        """What the caller said in the paused turn, as the draft heard it ("" without a draft, or if the STT is
        slower than ``timeout_s``): the end-of-turn judge's second signal."""
        draft = self._draft
        if draft is None:
            return ""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(draft.heard.wait(), timeout_s)
        return draft.user_text or ""

    def note_turn_probability(self, probability: float | None) -> None:
        """The end-of-turn model's score for the paused turn, for the metrics of the reply that answers it."""
        self._turn_probability = probability

    def caller_resumed(self) -> None:
        self._turn_probability = None
        if self._draft is not None:
            self._cancel_reply(self._draft)
            self._draft = None

    def end_of_turn(self, event: EndOfTurn) -> None:
        self._turns += 1
        stt, self._stt = self._stt, None
        draft, self._draft = self._draft, None
        if draft is not None and draft.stt is stt:
            draft.metrics.end_of_turn = event.at
            draft.metrics.end_of_turn_by = event.by
            draft.metrics.turn_probability = self._turn_probability
            draft.metrics.turn = self._turns
            draft.utterance.released.set()
            self._watch_for_filler(draft)
            self._commit_user(draft)
            if draft.task is not None and draft.task.done() and draft.stt is not None:
                self._spawn(_close_stt(draft.stt))
            return
        if stt is None:
            return
        metrics = TurnMetrics(turn=self._turns, end_of_speech=event.last_speech_at, end_of_turn=event.at,
                              silence_timeout_ms=self.silence_timeout_ms, end_of_turn_by=event.by,
                              turn_probability=self._turn_probability)
        reply = self._new_reply(metrics, stt=stt)
        reply.utterance.released.set()
        self._start_reply(reply)
        self._watch_for_filler(reply)

    def keypad_turn(self, digits: str, at: float) -> None:
        self._turns += 1
        reply = self._new_reply(TurnMetrics(turn=self._turns, end_of_speech=at, end_of_turn=at, silence_timeout_ms=0),
                                stt=None, source="dtmf")
        reply.user_text = f"(The caller pressed keypad keys: {digits})"
        reply.utterance.released.set()
        self._start_reply(reply)

    def cancel_replies(self) -> None:
        """Barge-in: every reply but the draft (which answers the words being spoken now) is dropped."""
        for reply in list(self._replies):
            if reply is not self._draft:
                self._cancel_reply(reply)

    def cancel_all(self) -> list[asyncio.Task[None]]:
        """The call is over: cancel every reply; returns their tasks to await."""
        tasks = [reply.task for reply in self._replies if reply.task is not None]
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self) -> None:
        if self._stt is not None:
            await _close_stt(self._stt)

    # ---------------------------------------------------------------- replies

    def _new_reply(self, metrics: TurnMetrics, stt: SttStream | None, source: str = "speech") -> AgentReply:
        utterance = Utterance(interruptible=True, rate=self.media_rate)
        reply = AgentReply(metrics=metrics, utterance=utterance, stt=stt, user_started_at=self._user_started_at,
                           source=source)
        utterance.on_first_frame = lambda at: self._first_audio(reply, at)
        return reply

    def _first_audio(self, reply: AgentReply, at: float) -> None:
        reply.metrics.mark("first_audio_out", at)
        if reply.source == "speech":
            self.events.turn_metrics(reply.metrics.to_json())

    def _watch_for_filler(self, reply: AgentReply) -> None:
        if self.fillers is not None:
            self._spawn(self.fillers.watch(reply))

    def _start_reply(self, reply: AgentReply) -> None:
        self._replies.add(reply)
        self.output.enqueue(reply.utterance)
        reply.task = asyncio.create_task(self._run_reply(reply), name=f"reply-{reply.metrics.turn}")
        reply.task.add_done_callback(lambda _t: self._replies.discard(reply))

    def _cancel_reply(self, reply: AgentReply) -> None:
        self.output.drop_unstarted(reply.utterance)
        if reply.task is not None:
            reply.task.cancel()
        self._replies.discard(reply)

    async def _run_reply(self, reply: AgentReply) -> None:
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
                reply.heard.set()
            if not reply.user_text:
                self.output.drop_unstarted(reply.utterance)
                return
            if reply.utterance.released.is_set():
                self._commit_user(reply)
            else:  # a draft: answer the words heard so far, not yet in the conversation
                self.events.caption("user", reply.user_text, final=False, turn=metrics.turn)
                history = [*self.conversation.history(), ChatMessage("user", reply.user_text)]
                await self.generator.generate(reply, history)
                return
            await self.generator.generate(reply, self.conversation.history())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an engine failed: say so in the call record, keep the call up
            log.exception("reply failed")
            self.errors.append(f"turn {metrics.turn}: {type(error).__name__}: {error}"[:300])
            self.output.drop_unstarted(reply.utterance)
        finally:
            reply.heard.set()
            if reply.stt is not None and reply.stt is not self._stt and reply is not self._draft:
                await _close_stt(reply.stt)
            reply.utterance.done()

    def _commit_user(self, reply: AgentReply) -> None:
        if reply.committed or not reply.user_text:
            return
        reply.committed = True
        self._carry_text = ""
        self.metrics.append(reply.metrics)
        self.conversation.add_user(reply.user_text, reply.user_started_at, reply.metrics.end_of_speech,
                                   source=reply.source)
        self.events.caption("user", reply.user_text, final=True, turn=reply.metrics.turn)


async def _close_stt(stt: SttStream) -> None:
    with contextlib.suppress(Exception):
        await stt.close()
