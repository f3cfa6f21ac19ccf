"""Twilio Media Streams, server side (bidirectional, as opened by TwiML ``<Connect><Stream>``).

Inbound events: ``connected``, ``start`` (stream/call ids, ``customParameters``, ``mediaFormat``),
``media`` (base64 8 kHz mu-law, 20 ms per message), ``dtmf``, ``mark`` (a mark we sent was played,
or dropped by ``clear``) and ``stop``. Outbound: ``media``, ``mark`` and ``clear``, each carrying the
``streamSid``. Parsing never raises on bad input: it answers :class:`Malformed` instead, marked
``fatal`` when the message is hostile rather than broken (JSON nested past the interpreter's recursion
limit): the stream is then closed.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from streaming.audio import pcm16_to_mulaw

MAX_MEDIA_BYTES = 8000  # one second of audio per message is already far beyond what Twilio sends


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    parameters: dict[str, str]
    media_format: dict[str, Any]

    def format_problem(self) -> str | None:
        fmt = self.media_format or {}
        encoding, rate = fmt.get("encoding"), fmt.get("sampleRate")
        channels = fmt.get("channels", 1)
        if encoding != "audio/x-mulaw" or rate != 8000 or channels != 1:
            return (f"unsupported media format {encoding!r} {rate!r} Hz x{channels!r}; "
                    "expected audio/x-mulaw 8000 Hz mono")
        return None


class Media(NamedTuple):
    """A tuple, not a frozen dataclass: 50 of these a second per call, and tuples are cheap to make."""

    payload: bytes  # mu-law
    track: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class StreamStopped:
    """``stop``: the carrier ended the stream (the call hung up or the stream was stopped)."""


@dataclass(frozen=True)
class Malformed:
    reason: str
    fatal: bool = False  # hostile: close the stream rather than skip the message


@dataclass(frozen=True)
class Unknown:
    event: str


Inbound = Connected | Start | Media | Dtmf | Mark | StreamStopped | Malformed | Unknown
DTMF_DIGITS = frozenset("0123456789*#ABCD")
STREAM_SID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""What a ``streamSid`` may look like (Twilio's are ``MZ`` and 32 hex digits); it is stored on the call."""


_PAYLOAD_KEY = '"payload":"'
_TRACK_INBOUND = '"track":"inbound"'


def parse(text: str | bytes) -> Inbound:
    if isinstance(text, str) and text.startswith('{"event":"media"') and text.endswith('}') and '\\' not in text:
        # The hot path (50 messages a second per call): Twilio's media messages are compact JSON with
        # no escapes, so the payload is the string after "payload":". Anything unusual takes json.loads.
        start = text.find(_PAYLOAD_KEY)
        end = text.find('"', start + len(_PAYLOAD_KEY)) if start >= 0 else -1
        if end > 0 and _TRACK_INBOUND in text:
            try:
                payload = base64.b64decode(text[start + len(_PAYLOAD_KEY):end], validate=True)
            except (binascii.Error, ValueError):
                return Malformed("media payload is not base64")
            return Media(payload=payload, track="inbound") if len(payload) <= MAX_MEDIA_BYTES \
                else Malformed("media payload too large")
    try:
        return _parse_json(text)
    except RecursionError:
        return Malformed("message nested too deeply", fatal=True)


def _parse_json(text: str | bytes) -> Inbound:
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return Malformed("not JSON")
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        return Malformed("not an event object")
    event = message["event"]
    try:
        if event == "media":
            media = message["media"]
            payload = base64.b64decode(media["payload"], validate=True)
            if len(payload) > MAX_MEDIA_BYTES:
                return Malformed("media payload too large")
            return Media(payload=payload, track=str(media.get("track", "inbound")))
        if event == "mark":
            return Mark(name=str(message["mark"]["name"]))
        if event == "dtmf":
            digit = str(message["dtmf"]["digit"])
            return Dtmf(digit=digit) if digit in DTMF_DIGITS else Malformed("dtmf digit not recognised")
        if event == "start":
            start = message["start"]
            parameters = start.get("customParameters") or {}
            if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
                return Malformed("customParameters is not an object of strings")
            stream_sid = message.get("streamSid") or start["streamSid"]
            if not isinstance(stream_sid, str) or not STREAM_SID.fullmatch(stream_sid):
                return Malformed("start event has a bad streamSid")
            return Start(stream_sid=stream_sid, call_sid=_text(start.get("callSid")),
                         account_sid=_text(start.get("accountSid")), parameters=parameters,
                         media_format=start.get("mediaFormat") if isinstance(start.get("mediaFormat"), dict) else {})
        if event == "connected":
            return Connected()
        if event == "stop":
            return StreamStopped()
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError):
        return Malformed(f"{event} event is missing fields or has bad values")
    return Unknown(event=event[:40])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class TwilioSink:
    """The output side: what the pipeline sends back to Twilio on one stream (PCM16 8 kHz in, mu-law out).

    Paced by the service's frame clock; Twilio buffers what it is sent and echoes each mark when its
    playback reaches it."""

    paces_itself = False

    def __init__(self, ws: web.WebSocketResponse, stream_sid: str) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self._media_prefix = '{"event":"media","streamSid":' + json.dumps(stream_sid) + ',"media":{"payload":"'

    async def send_audio(self, pcm16: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_str(self._media_prefix + base64.b64encode(pcm16_to_mulaw(pcm16)).decode() + '"}}')

    async def send_mark(self, name: str) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}))

    async def send_clear(self) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps({"event": "clear", "streamSid": self.stream_sid}))
