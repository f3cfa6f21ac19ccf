"""SDP as WhatsApp takes it: audio only, and only SHA-256 certificate fingerprints.

aiortc describes its DTLS certificate with ``a=fingerprint`` lines for SHA-256, SHA-384 and SHA-512; WhatsApp's
media servers refuse a description with anything but SHA-256. A data channel (``m=application``) has no place
in a WhatsApp call either. :func:`for_whatsapp` rewrites the text only: the peer connection keeps its own
description (the certificate is the same; the peer checks it against the SHA-256 line).
"""
from __future__ import annotations

import re


def for_whatsapp(sdp: str) -> str:
    """``sdp`` without fingerprints other than SHA-256 and without application (data channel) sections.

    ValueError when nothing would be left to describe the certificate or the audio."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    session, media = sections[0], sections[1:]
    dropped_mids = {_mid(section) for section in media if section[0].startswith("m=application")} - {None}
    media = [section for section in media if not section[0].startswith("m=application")]
    if not any(section[0].startswith("m=audio") for section in media):
        raise ValueError("the description has no audio section")
    session = [_bundle_without(line, dropped_mids) for line in session]
    kept = [line for line in session + [line for section in media for line in section] if _keep(line)]
    if not any(line.lower().startswith("a=fingerprint:sha-256 ") for line in kept):
        raise ValueError("the description has no SHA-256 fingerprint")
    return newline.join(kept) + newline


def fingerprint_algorithms(sdp: str) -> list[str]:
    """The hash algorithms of the description's ``a=fingerprint`` lines, in order (lower case)."""
    return [match.lower() for match in re.findall(r"^a=fingerprint:(\S+) ", sdp, flags=re.MULTILINE)]


def media_kinds(sdp: str) -> list[str]:
    """The kinds of the description's media sections, in order (``audio``, ``application``...)."""
    return re.findall(r"^m=(\w+) ", sdp, flags=re.MULTILINE)


def _keep(line: str) -> bool:
    return not line.lower().startswith("a=fingerprint:") or line.lower().startswith("a=fingerprint:sha-256 ")


def _mid(section: list[str]) -> str | None:
    return next((line[len("a=mid:"):].strip() for line in section if line.startswith("a=mid:")), None)


def _bundle_without(line: str, mids: set[str | None]) -> str:
    if not line.startswith("a=group:BUNDLE") or not mids:
        return line
    kept = [mid for mid in line[len("a=group:BUNDLE"):].split() if mid not in mids]
    return " ".join(["a=group:BUNDLE", *kept])
