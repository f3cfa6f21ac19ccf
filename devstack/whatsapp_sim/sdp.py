"""SDP rules of WhatsApp's media servers, as the simulated user's device applies them.

WhatsApp sends and accepts only ``a=fingerprint:sha-256`` lines (a session description carrying any other
hash is refused) and no data channel: calls are audio only, Opus at 48 kHz.
"""
from __future__ import annotations

import re

_FINGERPRINT = re.compile(r"^a=fingerprint:(?P<hash>\S+)\s", re.IGNORECASE)


def _lines(sdp: str) -> list[str]:
    return [line for line in sdp.replace("\r\n", "\n").split("\n") if line]


def only_sha256(sdp: str) -> str:
    """``sdp`` without its non-sha-256 fingerprint lines (what WhatsApp's offers and answers look like)."""
    kept = [line for line in _lines(sdp)
            if not (match := _FINGERPRINT.match(line)) or match["hash"].lower() == "sha-256"]
    return "\r\n".join(kept) + "\r\n"


def foreign_fingerprints(sdp: str) -> list[str]:
    """The hash names of fingerprint lines other than sha-256 (WhatsApp refuses a description with any)."""
    return [match["hash"] for line in _lines(sdp)
            if (match := _FINGERPRINT.match(line)) and match["hash"].lower() != "sha-256"]


def has_sha256_fingerprint(sdp: str) -> bool:
    return any((match := _FINGERPRINT.match(line)) and match["hash"].lower() == "sha-256" for line in _lines(sdp))


def has_data_channel(sdp: str) -> bool:
    return any(line.startswith("m=application") for line in _lines(sdp))


def has_opus_audio(sdp: str) -> bool:
    lines = _lines(sdp)
    return any(line.startswith("m=audio") for line in lines) and any(
        line.lower().startswith("a=rtpmap:") and "opus/48000" in line.lower() for line in lines)


def problems(sdp: str, *, offer: bool) -> list[str]:
    """Why WhatsApp would refuse this description (empty when it is acceptable)."""
    found: list[str] = []
    if not sdp.startswith("v=0"):
        return ["the session description does not start with v=0"]
    if foreign_fingerprints(sdp):
        found.append("only a=fingerprint:sha-256 is accepted; found " + ", ".join(foreign_fingerprints(sdp)))
    elif not has_sha256_fingerprint(sdp):
        found.append("no a=fingerprint:sha-256 line")
    if not has_opus_audio(sdp):
        found.append("no audio section with Opus at 48 kHz")
    if offer and has_data_channel(sdp):
        found.append("a data channel (m=application) is not supported")
    return found
