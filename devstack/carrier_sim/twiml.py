"""TwiML as the Twilio stand-in reads it: the ``<Stream>`` of an answered call, if any."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamHook:
    """A ``<Stream>`` found in an answered call's TwiML: where media would be streamed."""

    verb: str  # "Connect" (bidirectional) or "Start" (fork)
    url: str
    parameters: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, "url": self.url, "parameters": dict(self.parameters)}


class TwimlError(ValueError):
    """TwiML that Twilio would refuse to execute (Twilio's error 12100, document parse failure)."""


def parse_stream_hook(twiml: str) -> StreamHook | None:
    """The ``<Connect><Stream>`` (or ``<Start><Stream>``) in a TwiML document, if any."""
    try:
        root = ET.fromstring(twiml.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"TwiML root element must be <Response>, got <{root.tag}>")
    for verb in ("Connect", "Start"):
        stream = root.find(f"{verb}/Stream")
        if stream is not None:
            url = stream.get("url")
            if not url:
                raise TwimlError(f"<{verb}><Stream> has no url attribute")
            params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")}
            return StreamHook(verb=verb, url=url, parameters=params)
    return None
