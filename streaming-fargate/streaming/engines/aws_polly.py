"""Amazon Polly TTS engine.

API: ``polly`` ``SynthesizeSpeech`` (``POST /v1/speech``; boto3 ``synthesize_speech``) with
``OutputFormat="pcm"`` and ``SampleRate="16000"``: the ``AudioStream`` body is raw signed 16-bit
little-endian mono PCM, streamed as it is synthesized, which we pass on chunk by chunk. Speed uses SSML
``<prosody rate="N%">`` (``TextType="ssml"``; supported by standard and neural voices, 20%..200%).
See https://docs.aws.amazon.com/polly/latest/dg/API_SynthesizeSpeech.html

A request takes at most 3000 billed characters, so longer text is split at sentence (or word)
boundaries and synthesized piece after piece.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from xml.sax.saxutils import escape

from .aws_common import CancelToken, abort_http_body, iterate_in_thread
from .errors import EngineError, from_aws_error

log = logging.getLogger("parley.streaming.engines")

DEFAULT_VOICE = "Joanna"
SAMPLE_RATE = 16000
CHUNK_BYTES = 3200  # 100 ms of 16 kHz PCM16: small enough to start playback early
MAX_TEXT_CHARS = 2500  # under Polly's 3000 billed-character limit, with room for the SSML wrapper
MIN_RATE, MAX_RATE = 20, 200  # Polly's prosody rate bounds, in percent


def ssml_for(text: str, speed: float) -> str:
    """``<speak><prosody rate="N%">text</prosody></speak>`` with ``text`` escaped for XML."""
    rate = max(MIN_RATE, min(MAX_RATE, round(speed * 100)))
    return f'<speak><prosody rate="{rate}%">{escape(text)}</prosody></speak>'


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at sentence ends, else at spaces."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max((m.end() for m in re.finditer(r"[.!?;:]\s", window)), default=0)
        if cut == 0:
            cut = window.rfind(" ") + 1 or limit
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


class PollyTts:
    """:class:`~streaming.engines.base.TtsEngine` on Polly ``SynthesizeSpeech`` (PCM, 16 kHz).

    One instance per process; the boto3 client is created on first use. ``engine`` is Polly's voice
    engine (``"neural"`` by default; ``"standard"``, ``"generative"``, ``"long-form"`` for voices that
    need them).
    """

    name = "polly"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        default_voice: str = DEFAULT_VOICE,
        *,
        engine: str = "neural",
        language_code: str | None = None,
        region: str | None = None,
        client: Any | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.default_voice = default_voice
        self.engine = engine
        self.language_code = language_code
        self._region = region
        self._client = client
        self._client_lock = threading.Lock()
        self._chunk_bytes = chunk_bytes - chunk_bytes % 2

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 2})
                self._client = boto3.client("polly", region_name=self._region, config=config)
            return self._client

    def request_for(self, text: str, voice_id: str | None = None, speed: float = 1.0) -> dict[str, Any]:
        """The ``synthesize_speech`` keyword arguments for one piece of text."""
        request: dict[str, Any] = {
            "Text": text,
            "OutputFormat": "pcm",
            "SampleRate": str(SAMPLE_RATE),
            "VoiceId": voice_id or self.default_voice,
            "Engine": self.engine,
        }
        if abs(speed - 1.0) > 1e-3:
            request["Text"] = ssml_for(text, speed)
            request["TextType"] = "ssml"
        if self.language_code:
            request["LanguageCode"] = self.language_code
        return request

    async def synthesize(self, text: str, voice_id: str | None = None, speed: float = 1.0) -> AsyncIterator[bytes]:
        """Yield PCM16 chunks (even length, ~100 ms) as Polly streams them.

        Raises :class:`EngineError` on AWS errors. Closing the iterator stops reading the response.
        """
        requests = [self.request_for(piece, voice_id, speed) for piece in split_text(text)]
        if not requests:
            return
        try:
            async for chunk in iterate_in_thread(
                lambda token: self._audio(requests, token), thread_name="parley-polly"
            ):
                yield chunk
        except EngineError:
            raise
        except Exception as exc:
            raise from_aws_error(self.name, exc) from exc

    def _audio(self, requests: list[dict[str, Any]], token: CancelToken) -> Iterator[bytes]:
        """Worker thread: synthesize each piece and yield its audio in sample-aligned chunks (the client
        is built here, off the event loop)."""
        client = self.client
        carry = b""
        for request in requests:
            if token.cancelled:
                return
            body = client.synthesize_speech(**request)["AudioStream"]
            token.on_cancel(functools.partial(abort_http_body, body))
            try:
                while not token.cancelled:
                    data = body.read(self._chunk_bytes)
                    if not data:
                        break
                    data = carry + data
                    cut = len(data) - len(data) % 2
                    carry = data[cut:]
                    if cut:
                        yield data[:cut]
            finally:
                body.close()
        if carry:
            log.debug("polly returned an odd number of bytes; dropping the last one")
