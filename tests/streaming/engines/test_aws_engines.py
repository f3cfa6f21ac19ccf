"""The AWS engine adapters against the documented request and event shapes, without network.

- Bedrock and Polly: a real boto3 client (``endpoint_url``) talks to a local HTTP server that checks the
  request and answers like the service does (an ``application/vnd.amazon.eventstream`` body for
  ConverseStream, chunked ``audio/pcm`` for SynthesizeSpeech).
- Transcribe: a fake client shaped like ``amazon-transcribe``'s, emitting real
  ``amazon_transcribe.model`` events; plus the real SDK client building and signing the request from the
  adapter's arguments, stopped before it would touch the network.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.config import Config

from streaming.engines.aws_bedrock import (
    CALL_CONNECTED,
    BedrockLlm,
    build_converse_request,
)
from streaming.engines.aws_polly import PollyTts, split_text, ssml_for
from streaming.engines.aws_transcribe import TranscribeStt, transcribe_language
from streaming.engines.base import ChatMessage, LlmOptions, SttStream
from streaming.engines.errors import EngineError


# --------------------------------------------------------------------------------------------------
# A tiny AWS-like HTTP server
# --------------------------------------------------------------------------------------------------
def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event stream message: prelude (total length, headers length, CRC32), string headers
    (type 7), payload, message CRC32. https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html"""
    raw_headers = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        raw_headers += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, body: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_message(headers, json.dumps(body).encode())


def exception_event(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event_message(headers, json.dumps({"message": message}).encode())


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeAwsReply:
    """What the server sends back: ``parts`` go out as separate HTTP chunks; ``stall`` (if set) is waited
    for before the last part, to leave a response open mid-stream."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    parts: list[bytes] = field(default_factory=list)
    stall_before_last: threading.Event | None = None


class FakeAws:
    """``ThreadingHTTPServer`` on 127.0.0.1 answering every request with ``reply(recorded)``."""

    def __init__(self, reply: Callable[[Recorded], FakeAwsReply]) -> None:
        self.requests: list[Recorded] = []
        self.disconnected = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorded = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                fake.requests.append(recorded)
                answer = reply(recorded)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for i, part in enumerate(answer.parts):
                        if answer.stall_before_last is not None and i == len(answer.parts) - 1:
                            answer.stall_before_last.wait(5)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    fake.disconnected.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_aws() -> Iterator[Callable[[Callable[[Recorded], FakeAwsReply]], FakeAws]]:
    servers: list[FakeAws] = []

    def start(reply: Callable[[Recorded], FakeAwsReply]) -> FakeAws:
        servers.append(FakeAws(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client_for(service: str, server: FakeAws) -> Any:
    config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    return boto3.client(service, region_name="us-east-1", endpoint_url=server.url, config=config)


def worker_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --------------------------------------------------------------------------------------------------
# Bedrock ConverseStream
# --------------------------------------------------------------------------------------------------
MODEL = "amazon.nova-micro-v1:0"
HISTORY = [
    ChatMessage("system", "You book dental appointments."),
    ChatMessage("assistant", "Hello, this is the clinic."),
    ChatMessage("user", "Hi."),
    ChatMessage("user", "I need a cleaning."),
    ChatMessage("assistant", ""),
]


def converse_events(pieces: list[str], *, stop_reason: str = "end_turn") -> list[bytes]:
    return [
        event("messageStart", {"role": "assistant"}),
        *[event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces],
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": stop_reason}),
        event(
            "metadata",
            {"usage": {"inputTokens": 31, "outputTokens": 9, "totalTokens": 40}, "metrics": {"latencyMs": 212}},
        ),
    ]


def eventstream_reply(parts: list[bytes], stall: threading.Event | None = None) -> FakeAwsReply:
    return FakeAwsReply(headers={"Content-Type": "application/vnd.amazon.eventstream"}, parts=parts,
                        stall_before_last=stall)


async def collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


def test_converse_request_shape() -> None:
    request = build_converse_request(HISTORY, LlmOptions(temperature=0.2, max_tokens=99), MODEL)
    assert request == {
        "modelId": MODEL,
        "system": [{"text": "You book dental appointments."}],
        "messages": [
            {"role": "user", "content": [{"text": CALL_CONNECTED}]},
            {"role": "assistant", "content": [{"text": "Hello, this is the clinic."}]},
            {"role": "user", "content": [{"text": "Hi.\nI need a cleaning."}]},
        ],
        "inferenceConfig": {"maxTokens": 99, "temperature": 0.2},
    }
    only_system = build_converse_request([ChatMessage("system", "Be brief.")], LlmOptions(model="other"), MODEL)
    assert only_system["modelId"] == "other"
    assert only_system["messages"] == [{"role": "user", "content": [{"text": CALL_CONNECTED}]}]


def test_bedrock_streams_text_deltas_over_a_real_event_stream(fake_aws) -> None:
    pieces = ["Sure", ", I can", " book that.", " What day?"]
    server = fake_aws(lambda req: eventstream_reply(converse_events(pieces)))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))

    got = asyncio.run(collect(llm.stream(HISTORY, LlmOptions(temperature=0.3, max_tokens=120))))

    assert got == pieces
    (req,) = server.requests
    assert unquote(req.path) == f"/model/{MODEL}/converse-stream"  # botocore sends ':' as %3A
    assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/bedrock/aws4_request" in req.headers["authorization"]
    body = req.json()
    assert body["system"] == [{"text": "You book dental appointments."}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [{"text": CALL_CONNECTED}]
    assert body["inferenceConfig"] == {"maxTokens": 120, "temperature": 0.3}
    assert "modelId" not in body  # it travels in the path


def test_bedrock_model_from_options_and_env(fake_aws, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_aws(lambda req: eventstream_reply(converse_events(["ok"])))
    monkeypatch.setenv("PARLEY_BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    llm = BedrockLlm(client=client_for("bedrock-runtime", server))
    assert llm.model_id == "anthropic.claude-3-haiku-20240307-v1:0"
    asyncio.run(collect(llm.stream([ChatMessage("user", "hi")], LlmOptions())))
    asyncio.run(collect(llm.stream([ChatMessage("user", "hi")], LlmOptions(model="amazon.nova-lite-v1:0"))))
    assert [unquote(r.path) for r in server.requests] == [
        "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
        "/model/amazon.nova-lite-v1:0/converse-stream",
    ]
    monkeypatch.delenv("PARLEY_BEDROCK_MODEL_ID")
    assert BedrockLlm(client=object()).model_id == "amazon.nova-micro-v1:0"


def test_bedrock_exception_event_mid_stream_raises_engine_error(fake_aws) -> None:
    parts = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Sure"}}),
        exception_event("throttlingException", "Too many tokens, please wait before trying again."),
    ]
    server = fake_aws(lambda req: eventstream_reply(parts))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    got: list[str] = []

    async def run() -> None:
        async for piece in llm.stream([ChatMessage("user", "hi")], LlmOptions()):
            got.append(piece)

    with pytest.raises(EngineError) as caught:
        asyncio.run(run())
    assert got == ["Sure"]
    assert caught.value.engine == "bedrock"
    assert caught.value.code == "throttlingException"
    assert caught.value.retryable is True
    assert "Too many tokens" in str(caught.value)


def test_bedrock_http_validation_error_is_not_retryable(fake_aws) -> None:
    error = json.dumps({"message": "The provided model identifier is invalid."}).encode()
    server = fake_aws(
        lambda req: FakeAwsReply(
            status=400,
            headers={"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationException"},
            parts=[error],
        )
    )
    llm = BedrockLlm("nope", client=client_for("bedrock-runtime", server))
    with pytest.raises(EngineError) as caught:
        asyncio.run(collect(llm.stream([ChatMessage("user", "hi")], LlmOptions())))
    assert (caught.value.code, caught.value.retryable) == ("ValidationException", False)
    assert "model identifier is invalid" in str(caught.value)
    assert len(server.requests) == 1


def test_bedrock_stream_cut_before_message_stop_is_an_error(fake_aws) -> None:
    parts = converse_events(["Sure"])[:2]
    server = fake_aws(lambda req: eventstream_reply(parts))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    with pytest.raises(EngineError) as caught:
        asyncio.run(collect(llm.stream([ChatMessage("user", "hi")], LlmOptions())))
    assert caught.value.code == "IncompleteStream"


def test_bedrock_aclose_stops_the_worker_promptly(fake_aws) -> None:
    stall = threading.Event()  # the server holds the last event back until the end of the test
    parts = converse_events(["one", " two"])[:3] + [event("contentBlockStop", {"contentBlockIndex": 0})]
    server = fake_aws(lambda req: eventstream_reply(parts, stall))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))

    async def run() -> tuple[list[str], float]:
        stream = llm.stream([ChatMessage("user", "hi")], LlmOptions())
        got = [await stream.__anext__(), await stream.__anext__()]
        started = time.monotonic()
        await stream.aclose()
        return got, time.monotonic() - started

    try:
        got, aclose_s = asyncio.run(run())
        assert got == ["one", " two"]
        assert aclose_s < 0.5  # aclose never waits on the blocked read
        assert wait_until(lambda: not worker_threads("parley-bedrock"), 2.0), "worker thread still reading"
    finally:
        stall.set()


def test_bedrock_task_cancellation_stops_the_worker(fake_aws) -> None:
    stall = threading.Event()
    parts = converse_events(["one"])[:2] + [event("contentBlockStop", {"contentBlockIndex": 0})]
    server = fake_aws(lambda req: eventstream_reply(parts, stall))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    got: list[str] = []

    async def consume() -> None:
        async for piece in llm.stream([ChatMessage("user", "hi")], LlmOptions()):
            got.append(piece)

    async def run() -> None:
        task = asyncio.create_task(consume())
        while not got:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
        assert got == ["one"]
        assert wait_until(lambda: not worker_threads("parley-bedrock"), 2.0)
    finally:
        stall.set()


# --------------------------------------------------------------------------------------------------
# Polly SynthesizeSpeech
# --------------------------------------------------------------------------------------------------
def pcm_bytes(n: int) -> bytes:
    return bytes((i * 7) % 256 for i in range(n))


def test_polly_streams_pcm_chunks_that_concatenate_to_the_body(fake_aws) -> None:
    audio = pcm_bytes(16000 * 2 + 1000)  # ~1 s of 16 kHz PCM16
    parts = [audio[i : i + 4000] for i in range(0, len(audio), 4000)]
    server = fake_aws(lambda req: FakeAwsReply(headers={"Content-Type": "audio/pcm"}, parts=parts))
    tts = PollyTts(client=client_for("polly", server))
    assert (tts.name, tts.sample_rate) == ("polly", 16000)

    chunks = asyncio.run(collect(tts.synthesize("Your appointment is at 3 pm.")))

    assert b"".join(chunks) == audio
    assert len(chunks) > 1 and all(len(c) % 2 == 0 and len(c) <= 3200 for c in chunks)
    (req,) = server.requests
    assert req.path == "/v1/speech"
    assert req.json() == {
        "Text": "Your appointment is at 3 pm.",
        "OutputFormat": "pcm",
        "SampleRate": "16000",
        "VoiceId": "Joanna",
        "Engine": "neural",
    }


def test_polly_speed_uses_escaped_ssml(fake_aws) -> None:
    server = fake_aws(lambda req: FakeAwsReply(headers={"Content-Type": "audio/pcm"}, parts=[b"\x00\x01" * 10]))
    tts = PollyTts(client=client_for("polly", server))
    chunks = asyncio.run(collect(tts.synthesize('Tom & Jerry <3 "cheese"', voice_id="Matthew", speed=1.25)))
    assert b"".join(chunks) == b"\x00\x01" * 10
    body = server.requests[0].json()
    assert body["TextType"] == "ssml"
    assert body["VoiceId"] == "Matthew"
    assert body["Text"] == '<speak><prosody rate="125%">Tom &amp; Jerry &lt;3 "cheese"</prosody></speak>'
    assert ssml_for("x", 5.0) == '<speak><prosody rate="200%">x</prosody></speak>'  # Polly's bounds
    assert ssml_for("x", 0.05) == '<speak><prosody rate="20%">x</prosody></speak>'


def test_polly_long_text_is_split_into_requests(fake_aws) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))  # ~5.6k characters
    pieces = split_text(text)
    assert len(pieces) == 3 and all(len(p) <= 2500 and p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text
    server = fake_aws(lambda req: FakeAwsReply(headers={"Content-Type": "audio/pcm"}, parts=[b"\x01\x00" * 4]))
    chunks = asyncio.run(collect(PollyTts(client=client_for("polly", server)).synthesize(text)))
    assert b"".join(chunks) == b"\x01\x00" * 12
    assert [r.json()["Text"] for r in server.requests] == pieces


def test_polly_error_becomes_engine_error(fake_aws) -> None:
    error = json.dumps({"message": "Voice 'Nobody' does not exist."}).encode()
    server = fake_aws(
        lambda req: FakeAwsReply(status=400, headers={"x-amzn-ErrorType": "InvalidParameterValueException"},
                                 parts=[error])
    )
    with pytest.raises(EngineError) as caught:
        asyncio.run(collect(PollyTts(client=client_for("polly", server)).synthesize("hi", voice_id="Nobody")))
    assert (caught.value.engine, caught.value.code, caught.value.retryable) == (
        "polly",
        "InvalidParameterValueException",
        False,
    )


def test_polly_aclose_stops_reading(fake_aws) -> None:
    stall = threading.Event()
    parts = [pcm_bytes(3200), pcm_bytes(3200)]  # the worker blocks reading the second one
    server = fake_aws(lambda req: FakeAwsReply(headers={"Content-Type": "audio/pcm"}, parts=parts,
                                               stall_before_last=stall))
    tts = PollyTts(client=client_for("polly", server))

    async def run() -> bytes:
        audio = tts.synthesize("A long answer.")
        first = await audio.__anext__()
        await audio.aclose()
        return first

    try:
        assert asyncio.run(run()) == pcm_bytes(3200)
        assert wait_until(lambda: not worker_threads("parley-polly"), 2.0), "worker thread still reading"
    finally:
        stall.set()


# --------------------------------------------------------------------------------------------------
# Transcribe streaming
# --------------------------------------------------------------------------------------------------
try:
    import amazon_transcribe  # noqa: F401 - only probes that the SDK is installed

    HAVE_TRANSCRIBE_SDK = True
except ImportError:  # pragma: no cover - it is a dependency of the service
    HAVE_TRANSCRIBE_SDK = False
needs_sdk = pytest.mark.skipif(not HAVE_TRANSCRIBE_SDK, reason="amazon-transcribe is not installed")


def transcript_event(*results: tuple[str, str, bool]) -> Any:
    """``(result_id, text, is_partial)`` triples as a real SDK ``TranscriptEvent``."""
    from amazon_transcribe.model import Alternative, Result, Transcript, TranscriptEvent

    return TranscriptEvent(
        Transcript(
            [
                Result(
                    result_id=rid,
                    start_time=0.0,
                    end_time=1.0,
                    is_partial=partial,
                    alternatives=[Alternative(text, items=[], entities=[])],
                )
                for rid, text, partial in results
            ]
        )
    )


class FakeInputStream:
    def __init__(self, stream: FakeStream) -> None:
        self._stream = stream
        self.chunks: list[bytes] = []
        self.ended = 0

    async def send_audio_event(self, audio_chunk: bytes) -> None:
        self.chunks.append(audio_chunk)
        await self._stream.on_audio(len(self.chunks))

    async def end_stream(self) -> None:
        self.ended += 1
        await self._stream.on_end()


class FakeStream:
    """Shaped like ``StartStreamTranscriptionEventStream``: ``input_stream`` and an async-iterable
    ``output_stream``. ``script`` maps "after audio chunk N" (int) / "end" to the events to emit then;
    the output ends after the "end" events unless ``hang`` (a service that never finalises)."""

    def __init__(self, script: dict[Any, list[Any]], *, hang: bool = False, error: Exception | None = None):
        self.input_stream = FakeInputStream(self)
        self._script = script
        self._hang = hang
        self._error = error
        self._events: asyncio.Queue[Any] = asyncio.Queue()

    async def on_audio(self, n: int) -> None:
        for ev in self._script.get(n, []):
            self._events.put_nowait(ev)
        if self._error is not None and n == 1:
            self._events.put_nowait(self._error)

    async def on_end(self) -> None:
        for ev in self._script.get("end", []):
            self._events.put_nowait(ev)
        if not self._hang:
            self._events.put_nowait(None)

    @property
    def output_stream(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        while True:
            item = await self._events.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item


class FakeTranscribeClient:
    def __init__(self, *streams: FakeStream, start_delay: float = 0.0) -> None:
        self.streams = list(streams)
        self.calls: list[dict[str, Any]] = []
        self.start_delay = start_delay

    async def start_stream_transcription(self, **kwargs: Any) -> FakeStream:
        self.calls.append(kwargs)
        await asyncio.sleep(self.start_delay)
        return self.streams[len(self.calls) - 1]


def engine_with(client: FakeTranscribeClient, **kw: Any) -> TranscribeStt:
    regions: list[str] = []

    def factory(region: str) -> FakeTranscribeClient:
        regions.append(region)
        return client

    engine = TranscribeStt(region="eu-west-1", client_factory=factory, **kw)
    engine.regions = regions  # type: ignore[attr-defined]
    return engine


def test_transcribe_language_mapping() -> None:
    assert transcribe_language("en-US") == "en-US"
    assert transcribe_language("en_gb") == "en-GB"
    assert transcribe_language("en") == "en-US"
    assert transcribe_language("es") == "es-US"
    assert transcribe_language("") == "en-US"
    assert transcribe_language(None) == "en-US"


@needs_sdk
def test_transcribe_chunks_audio_and_keeps_only_finals() -> None:
    stream = FakeStream(
        {
            1: [transcript_event(("r1", "hel", True))],
            2: [transcript_event(("r1", "hello", True))],
            3: [transcript_event(("r1", "Hello there.", False)), transcript_event(("r2", "how", True))],
            "end": [transcript_event(("r2", "How are you?", False))],
        }
    )
    client = FakeTranscribeClient(stream, start_delay=0.01)
    engine = engine_with(client)
    assert (engine.name, engine.sample_rate, engine.streaming) == ("amazon_transcribe", 16000, True)
    frames = [pcm_bytes(640) for _ in range(12)] + [pcm_bytes(10_000)]  # 20 ms frames, then a 312 ms burst

    async def run() -> tuple[str, float]:
        stt = engine.open("en_gb")
        assert isinstance(stt, SttStream)
        started = time.monotonic()
        for frame in frames:
            stt.feed(frame)  # never waits for AWS (start_stream_transcription takes 10 ms here)
        fed_s = time.monotonic() - started
        text = await stt.transcript()
        await stt.close()
        return text, fed_s

    text, fed_s = asyncio.run(run())
    assert text == "Hello there. How are you?"
    assert fed_s < 0.05
    assert engine.regions == ["eu-west-1"]  # type: ignore[attr-defined]
    assert client.calls == [{"language_code": "en-GB", "media_sample_rate_hz": 16000, "media_encoding": "pcm"}]
    sent = stream.input_stream.chunks
    assert b"".join(sent) == b"".join(frames)
    assert [len(c) for c in sent] == [3200] * 5 + [1680]  # 100 ms events, the rest flushed at the end
    assert stream.input_stream.ended == 1


@needs_sdk
def test_transcribe_transcript_again_after_more_audio_opens_a_new_stream() -> None:
    first = FakeStream({"end": [transcript_event(("a", "I'd like", False))]})
    second = FakeStream({"end": [transcript_event(("b", "a cleaning.", False))]})
    client = FakeTranscribeClient(first, second)
    engine = engine_with(client)

    async def run() -> list[str]:
        stt = engine.open()
        stt.feed(pcm_bytes(4000))
        texts = [await stt.transcript(), await stt.transcript()]  # nothing new fed: no new stream
        stt.feed(pcm_bytes(2000))
        texts.append(await stt.transcript())
        await stt.close()
        return texts

    assert asyncio.run(run()) == ["I'd like", "I'd like", "I'd like a cleaning."]
    assert len(client.calls) == 2 and client.calls[1]["language_code"] == "en-US"
    assert b"".join(first.input_stream.chunks) == pcm_bytes(4000)
    assert b"".join(second.input_stream.chunks) == pcm_bytes(2000)  # recognised audio is not resent


def test_transcribe_without_audio_makes_no_request() -> None:
    client = FakeTranscribeClient()

    async def run() -> str:
        stt = engine_with(client).open()
        text = await stt.transcript()
        await stt.close()
        return text

    assert asyncio.run(run()) == ""
    assert client.calls == []


@needs_sdk
def test_transcribe_falls_back_to_partials_when_finals_do_not_come() -> None:
    stream = FakeStream(
        {1: [transcript_event(("r1", "Yes.", False)), transcript_event(("r2", "Tuesday at", True))]}, hang=True
    )
    engine = engine_with(FakeTranscribeClient(stream), final_timeout=0.1)

    async def run() -> str:
        stt = engine.open()
        stt.feed(pcm_bytes(3200))
        await asyncio.sleep(0.01)
        return await stt.transcript()

    assert asyncio.run(run()) == "Yes. Tuesday at"


@needs_sdk
def test_transcribe_service_error_raises_engine_error() -> None:
    from amazon_transcribe.exceptions import LimitExceededException

    stream = FakeStream({}, error=LimitExceededException("You have reached your limit of concurrent streams."))
    engine = engine_with(FakeTranscribeClient(stream))

    async def run() -> None:
        stt = engine.open()
        stt.feed(pcm_bytes(6400))
        try:
            await stt.transcript()
        finally:
            await stt.close()

    with pytest.raises(EngineError) as caught:
        asyncio.run(run())
    assert (caught.value.engine, caught.value.code, caught.value.retryable) == (
        "amazon_transcribe",
        "LimitExceededException",
        True,
    )
    assert "concurrent streams" in str(caught.value)


def test_transcribe_close_cancels_and_ends_the_stream() -> None:
    stream = FakeStream({}, hang=True)
    engine = engine_with(FakeTranscribeClient(stream))

    async def run() -> list[asyncio.Task[Any]]:
        stt = engine.open()
        stt.feed(pcm_bytes(640))
        await asyncio.sleep(0.01)
        await stt.close()
        stt.feed(pcm_bytes(640))  # ignored after close
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(run()) == []
    assert stream.input_stream.ended == 1
    assert stream.input_stream.chunks == []  # the 20 ms frame never filled a 100 ms event


@needs_sdk
def test_transcribe_real_sdk_client_builds_the_documented_request() -> None:
    """The real ``TranscribeStreamingClient`` serializes and signs what the adapter asks for; its HTTP
    session is replaced so nothing leaves the process."""
    from amazon_transcribe.auth import StaticCredentialResolver
    from amazon_transcribe.client import TranscribeStreamingClient

    captured: dict[str, Any] = {}

    class NetworkBlocked(Exception):
        pass

    class CapturingSession:
        async def make_request(self, uri: str, method: str, headers: list[tuple[str, str]], body: Any) -> Any:
            captured.update(uri=uri, method=method, headers={k.lower(): v for k, v in headers})
            raise NetworkBlocked("no network in tests")

    def factory(region: str) -> TranscribeStreamingClient:
        client = TranscribeStreamingClient(
            region=region, credential_resolver=StaticCredentialResolver("testing", "testing")
        )
        client._session_manager = CapturingSession()  # the SDK's network seam
        return client

    async def run() -> None:
        stt = TranscribeStt(region="us-west-2", client_factory=factory).open("en-AU")
        stt.feed(pcm_bytes(3200))
        try:
            await stt.transcript()
        finally:
            await stt.close()

    with pytest.raises(EngineError, match="no network in tests"):
        asyncio.run(run())
    assert captured["method"] == "POST"
    assert captured["uri"] == "https://transcribestreaming.us-west-2.amazonaws.com/stream-transcription"
    headers = captured["headers"]
    assert headers["x-amzn-transcribe-language-code"] == "en-AU"
    assert headers["x-amzn-transcribe-sample-rate"] == "16000"
    assert headers["x-amzn-transcribe-media-encoding"] == "pcm"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-west-2/transcribe/aws4_request" in headers["authorization"]


# --------------------------------------------------------------------------------------------------
# Bedrock Converse with a forced tool: JSON answers (post-call analysis)
# --------------------------------------------------------------------------------------------------
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string", "maxLength": 300},
                   "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
    "required": ["summary", "sentiment"],
    "additionalProperties": False,
}


def converse_reply(content: list[dict[str, Any]], stop_reason: str = "tool_use") -> FakeAwsReply:
    """A documented ``Converse`` response body (API_runtime_Converse: output.message, stopReason, usage,
    metrics)."""
    body = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 412, "outputTokens": 57, "totalTokens": 469},
        "metrics": {"latencyMs": 840},
    }
    return FakeAwsReply(headers={"Content-Type": "application/json"}, parts=[json.dumps(body).encode()])


def tool_use(value: Any, name: str | None = None) -> dict[str, Any]:
    from streaming.engines.aws_bedrock import JSON_TOOL_NAME

    return {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": name or JSON_TOOL_NAME, "input": value}}


def test_bedrock_complete_json_calls_converse_with_a_forced_tool(fake_aws) -> None:
    from streaming.engines.aws_bedrock import JSON_TOOL_NAME

    answer = {"summary": "The caller booked a cleaning.", "sentiment": "positive"}
    server = fake_aws(lambda req: converse_reply([{"text": "Recording the answer."}, tool_use(answer)]))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    messages = [ChatMessage("system", "You analyse calls."), ChatMessage("user", "Transcript:\nCaller: Hi.")]

    got = asyncio.run(llm.complete_json(messages, ANSWER_SCHEMA, LlmOptions(temperature=0.0, max_tokens=400)))

    assert got == answer
    (req,) = server.requests
    assert unquote(req.path) == f"/model/{MODEL}/converse"
    assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/bedrock/aws4_request" in req.headers["authorization"]
    body = req.json()
    assert "modelId" not in body  # it travels in the path
    assert body["system"] == [{"text": "You analyse calls."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "Transcript:\nCaller: Hi."}]}]
    assert body["inferenceConfig"] == {"maxTokens": 400, "temperature": 0.0}
    (tool,) = body["toolConfig"]["tools"]
    assert tool["toolSpec"]["name"] == JSON_TOOL_NAME
    assert tool["toolSpec"]["description"]
    assert tool["toolSpec"]["inputSchema"] == {"json": ANSWER_SCHEMA}
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": JSON_TOOL_NAME}}


def test_bedrock_complete_json_failures_are_engine_errors(fake_aws) -> None:
    busy = json.dumps({"message": "Too many requests, please wait before trying again."}).encode()
    throttled = FakeAwsReply(status=429, parts=[busy],
                             headers={"Content-Type": "application/json", "x-amzn-ErrorType": "ThrottlingException"})
    replies = [
        converse_reply([tool_use({"summary": "The caller"})], stop_reason="max_tokens"),
        converse_reply([{"text": "The caller booked a cleaning."}], stop_reason="end_turn"),
        converse_reply([tool_use("not an object")]),
    ]
    server = fake_aws(lambda req: replies.pop(0) if replies else throttled)  # botocore retries the throttling
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    outcomes = []
    for _ in range(4):
        with pytest.raises(EngineError) as caught:
            asyncio.run(llm.complete_json([ChatMessage("user", "hi")], ANSWER_SCHEMA, LlmOptions()))
        outcomes.append((caught.value.engine, caught.value.code, caught.value.retryable))
    assert outcomes == [("bedrock", "MaxTokens", False), ("bedrock", "NoToolUse", False),
                        ("bedrock", "InvalidJson", False), ("bedrock", "ThrottlingException", True)]
    assert len(server.requests) >= 4


def test_post_call_analysis_over_bedrock(fake_aws) -> None:
    from streaming.post_call_analysis import analysis_schema, analyze

    answer = {"summary": "The caller booked a cleaning for Friday.", "sentiment": "Positive",
              "extracted_variables": {"date": "Friday", "time": None, "extra": "dropped"}}
    server = fake_aws(lambda req: converse_reply([tool_use(answer)]))
    llm = BedrockLlm(MODEL, client=client_for("bedrock-runtime", server))
    transcript = [{"role": "agent", "text": "Hello, clinic.", "start_s": 0.0, "end_s": 1.0},
                  {"role": "user", "text": "A cleaning on Friday, please.", "start_s": 1.5, "end_s": 3.0}]
    variables = [{"key": "date", "prompt": "Day of the appointment"}, {"key": "time", "prompt": "Its time"}]

    analysis = asyncio.run(analyze(transcript, variables, llm, options=LlmOptions(temperature=0.0,
                                                                                  model="amazon.nova-lite-v1:0")))

    assert analysis.to_json() | {"compute_ms": 0} == {
        "summary": "The caller booked a cleaning for Friday.", "sentiment": "positive",
        "extracted_variables": {"date": "Friday", "time": None}, "errors": [], "engine": "bedrock",
        "compute_ms": 0, "transcript_truncated": False}
    (req,) = server.requests
    assert unquote(req.path) == "/model/amazon.nova-lite-v1:0/converse"
    body = req.json()
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == analysis_schema(["date", "time"])
    assert body["messages"][0]["content"][0]["text"] == (
        "Transcript:\nAgent: Hello, clinic.\nCaller: A cleaning on Friday, please.")
