"""Amazon Transcribe streaming STT engine (``amazon-transcribe`` SDK, HTTP/2 event streams over awscrt).

API: ``StartStreamTranscription`` (``POST /stream-transcription``; headers
``x-amzn-transcribe-language-code``, ``-sample-rate``, ``-media-encoding``). Audio goes up as
``AudioEvent`` messages (``stream.input_stream.send_audio_event``); ``end_stream()`` sends the empty
event that tells Transcribe the audio is over. Results come back as ``TranscriptEvent`` s whose
``transcript.results`` each carry a ``result_id``, ``is_partial`` and ``alternatives[0].transcript``: a
segment is re-sent as partials until one final (``is_partial=False``) result replaces them.
See https://docs.aws.amazon.com/transcribe/latest/dg/streaming.html (AWS recommends audio chunks of
50-200 ms; a chunk may not exceed 32 KB).

``transcript()`` semantics (one :class:`TranscribeSttStream` per caller utterance):

- ``feed`` never blocks: it queues the audio, and the first ``feed`` opens an AWS stream in a task
  that sends the queue in 100 ms events while receiving results, so recognition runs while the caller
  speaks.
- ``transcript()`` ends the current AWS stream (the remaining audio is flushed, then ``end_stream``),
  waits for its last final results, and returns the concatenation of every final result of the
  utterance so far. Ending the stream is what makes Transcribe finalise the last segment at once instead
  of waiting for its own end-of-speech detection.
- Feeding again after ``transcript()`` opens a new AWS stream for the new audio; the next
  ``transcript()`` returns the earlier text followed by the new text. Audio already recognised is never
  resent.
- If the last results do not arrive within ``final_timeout``, the latest partial text of the unfinished
  segments is used (logged as a warning) rather than losing the words.
- If a stream fails, ``transcript()`` raises :class:`EngineError` (``retryable`` for throttling and
  5xx); the audio of that stream is dropped, and feeding again starts a fresh stream.
- ``close()`` cancels everything and releases the AWS stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from .errors import EngineError, from_aws_error

log = logging.getLogger("parley.streaming.engines")

SAMPLE_RATE = 16000
CHUNK_BYTES = SAMPLE_RATE * 2 // 10  # 100 ms of PCM16 per AudioEvent (AWS: 50-200 ms)
FINAL_TIMEOUT_S = 5.0

# Short codes we accept, mapped to the Transcribe streaming language each one means for us.
_DEFAULT_REGIONS = {
    "en": "en-US",
    "es": "es-US",
    "fr": "fr-FR",
    "de": "de-DE",
    "it": "it-IT",
    "pt": "pt-BR",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "zh": "zh-CN",
    "hi": "hi-IN",
    "ar": "ar-SA",
    "nl": "nl-NL",
    "th": "th-TH",
}

ClientFactory = Callable[[str], Any]


def transcribe_language(language: str | None) -> str:
    """Map ``"en"``, ``"en_us"``, ``"EN-us"`` ... to Transcribe's ``xx-YY`` form (``"en-US"`` default)."""
    if not language or not language.strip():
        return "en-US"
    match = re.fullmatch(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}))?", language.strip())
    if not match:
        return language.strip()  # let Transcribe reject what we do not understand
    lang, region = match.group(1).lower(), match.group(2)
    if region:
        return f"{lang}-{region.upper()}"
    return _DEFAULT_REGIONS.get(lang, f"{lang}-{lang.upper()}")


def default_client_factory(region: str) -> Any:
    """A real ``TranscribeStreamingClient`` (credentials from the default AWS chain)."""
    from amazon_transcribe.client import TranscribeStreamingClient

    return TranscribeStreamingClient(region=region)


class TranscribeStt:
    """:class:`~streaming.engines.base.SttEngine` on Amazon Transcribe streaming (PCM16, 16 kHz).

    ``client_factory(region)`` builds the SDK client (called once, on first use); tests pass a fake.
    ``stream_options`` are extra ``start_stream_transcription`` keyword arguments (e.g.
    ``vocabulary_name``, ``enable_partial_results_stabilization``).
    """

    name = "amazon_transcribe"
    sample_rate = SAMPLE_RATE
    streaming = True

    def __init__(
        self,
        *,
        region: str | None = None,
        client_factory: ClientFactory = default_client_factory,
        chunk_bytes: int = CHUNK_BYTES,
        final_timeout: float = FINAL_TIMEOUT_S,
        stream_options: dict[str, Any] | None = None,
    ) -> None:
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._client_factory = client_factory
        self._client: Any | None = None
        self.chunk_bytes = max(2, chunk_bytes - chunk_bytes % 2)
        self.final_timeout = final_timeout
        self.stream_options = dict(stream_options or {})

    @property
    def client(self) -> Any:
        if self._client is None:  # only touched from the event loop thread
            self._client = self._client_factory(self.region)
        return self._client

    def open(self, language: str = "en-US") -> TranscribeSttStream:
        return TranscribeSttStream(self, transcribe_language(language))


class _Session:
    """One ``StartStreamTranscription`` call: a sender and a receiver running side by side."""

    def __init__(self, engine: TranscribeStt, language: str) -> None:
        self._engine = engine
        self._language = language
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._segments: dict[str, tuple[str, bool]] = {}  # result_id -> (text, is_partial), in arrival order
        self._stream: Any | None = None
        self._input_ended = False
        self.task = asyncio.create_task(self._run(), name="parley-transcribe")

    def feed(self, pcm16: bytes) -> None:
        self._audio.put_nowait(pcm16)

    def final_text(self, *, with_partials: bool = False) -> str:
        return _join(text for text, partial in self._segments.values() if with_partials or not partial)

    async def finish(self, timeout: float) -> str:
        """End the input, wait for the last finals, return this session's text."""
        self._audio.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            log.warning("transcribe: no final result %.1f s after end of audio; using partial text", timeout)
            await self.cancel()
            return self.final_text(with_partials=True)
        except asyncio.CancelledError:  # the caller gave up: do not leave the session running
            self.task.cancel()
            raise
        except EngineError:
            raise
        except Exception as exc:
            raise from_aws_error(self._engine.name, exc) from exc
        return self.final_text()

    async def cancel(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            _reraise_if_we_are_cancelled()
        except Exception:
            log.debug("transcribe: session ended with an error during close", exc_info=True)
        if self._stream is not None and not self._input_ended:
            self._input_ended = True
            try:  # release the HTTP/2 stream rather than leaving it to Transcribe's 15 s idle timeout
                await asyncio.wait_for(self._stream.input_stream.end_stream(), 1.0)
            except asyncio.CancelledError:
                _reraise_if_we_are_cancelled()
            except Exception:
                log.debug("transcribe: end_stream on cancel failed", exc_info=True)

    async def _run(self) -> None:
        options = {
            "language_code": self._language,
            "media_sample_rate_hz": SAMPLE_RATE,
            "media_encoding": "pcm",
            **self._engine.stream_options,
        }
        self._stream = await self._engine.client.start_stream_transcription(**options)
        sender = asyncio.create_task(self._send(self._stream.input_stream))
        receiver = asyncio.create_task(self._receive(self._stream.output_stream))
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # exception() is not None: the task failed
            await asyncio.gather(sender, receiver)
        finally:
            sender.cancel()
            receiver.cancel()

    async def _send(self, input_stream: Any) -> None:
        size = self._engine.chunk_bytes
        pending = bytearray()
        while True:
            pcm = await self._audio.get()
            if pcm is None:
                break
            pending += pcm
            while len(pending) >= size:
                await input_stream.send_audio_event(audio_chunk=bytes(pending[:size]))
                del pending[:size]
        if pending:
            await input_stream.send_audio_event(audio_chunk=bytes(pending))
        self._input_ended = True
        await input_stream.end_stream()

    async def _receive(self, output_stream: Any) -> None:
        async for event in output_stream:
            transcript = getattr(event, "transcript", None)
            for result in getattr(transcript, "results", None) or []:
                if not result.alternatives:
                    continue
                key = result.result_id or f"#{len(self._segments)}"
                self._segments[key] = (result.alternatives[0].transcript or "", bool(result.is_partial))


class TranscribeSttStream:
    """One caller utterance on Transcribe (see the module docstring for ``transcript()`` semantics)."""

    def __init__(self, engine: TranscribeStt, language: str) -> None:
        self._engine = engine
        self.language = language
        self._session: _Session | None = None
        self._pending: list[bytes] = []  # audio fed before an event loop was running
        self._text: list[str] = []  # text of finished sessions
        self._closed = False

    def feed(self, pcm16: bytes) -> None:
        if self._closed or not pcm16:
            return
        if self._session is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self._pending.append(pcm16)
                return
            self._session = _Session(self._engine, self.language)
            for chunk in self._pending:
                self._session.feed(chunk)
            self._pending.clear()
        self._session.feed(pcm16)

    async def transcript(self) -> str:
        if self._pending and not self._closed:  # audio fed before the loop ran: send it now
            self._start_pending()
        session, self._session = self._session, None
        if session is not None:
            self._text.append(await session.finish(self._engine.final_timeout))
        return _join(self._text)

    def _start_pending(self) -> None:
        pending, self._pending = self._pending, []
        for chunk in pending:
            self.feed(chunk)

    async def close(self) -> None:
        self._closed = True
        self._pending.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.cancel()


def _reraise_if_we_are_cancelled() -> None:
    """Inside ``except CancelledError``: re-raise when the *current* task was cancelled (not the one we
    cancelled and awaited)."""
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError


def _join(parts: Any) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())
