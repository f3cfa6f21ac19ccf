"""SIP destinations in the Twilio stand-in: ``To=sip:...`` with ``SipAuthUsername``/``SipAuthPassword``.

Twilio dials a ``sip:`` ``To`` (``sip:user@host[:port][;transport=udp|tcp|tls]``) and answers the far end's
digest challenge with the ``SipAuth*`` parameters. Here the far ends are the registered trunks
(:class:`SipTrunks`, host -> expected credentials; ``PUT /sim/sip-trunks``): a call to a registered host
without credentials fails as an unanswered challenge (``SipResponseCode`` 401), with wrong ones as a refused
one (403); a host that is not registered takes any call. A refused call is created (201) and then ends
``failed`` without ringing, as Twilio reports a failed SIP call. Otherwise the call lives like any other; the
by-number rules apply to the URI's user part (``sip:+14155550120@...`` is busy like ``+14155550120``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIP_URI = re.compile(r"^sips?:(?P<user>[^@;?\s:]+)@"
                     r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
                     r"(?::(?P<port>[0-9]{1,5}))?(?P<params>(?:;[A-Za-z0-9_.-]+(?:=[A-Za-z0-9_.-]+)?)*)$")
TRANSPORTS = ("udp", "tcp", "tls")
CHALLENGE_UNANSWERED = 401  # the trunk asked for credentials and none were given
CREDENTIALS_REFUSED = 403  # the digest answer did not match


@dataclass(frozen=True)
class SipTarget:
    """A parsed ``sip:`` destination."""

    uri: str
    user: str
    host: str  # lower-case, IPv6 literals without brackets
    port: int
    transport: str | None


@dataclass(frozen=True)
class SipAuth:
    username: str
    password: str


def is_sip(to: str) -> bool:
    return to.lower().startswith(("sip:", "sips:"))


def parse_sip_uri(to: str) -> SipTarget:
    """Parse ``to``; ``ValueError`` (saying what is wrong) for a malformed URI, a bad port or transport."""
    match = SIP_URI.match(to)
    if match is None:
        raise ValueError(f"not a SIP URI of the form sip:user@host[:port][;transport=...]: {to}")
    port = int(match["port"] or 5060)
    if not 1 <= port <= 65535:
        raise ValueError(f"SIP port out of range: {port}")
    params = {key.lower(): value for key, _, value in (p.partition("=") for p in match["params"].split(";") if p)}
    transport = params.get("transport", "").lower() or None
    if transport is not None and transport not in TRANSPORTS:
        raise ValueError(f"SIP transport must be udp, tcp or tls, got {transport}")
    host = match["host"].lower()
    return SipTarget(uri=to, user=match["user"], host=host.strip("[]"), port=port, transport=transport)


def parse_sip_auth(username: str | None, password: str | None) -> SipAuth | None:
    """``SipAuthUsername``/``SipAuthPassword``: both or neither (``ValueError`` otherwise)."""
    if not username and not password:
        return None
    if not username or not password:
        raise ValueError("SipAuthUsername and SipAuthPassword go together")
    return SipAuth(username, password)


class SipTrunks:
    """The far-end trunks that check credentials: host -> the username and password they accept."""

    def __init__(self, trunks: Mapping[str, SipAuth] | None = None) -> None:
        self._trunks = {host.lower(): auth for host, auth in (trunks or {}).items()}

    def set(self, host: str, auth: SipAuth) -> None:
        self._trunks[host.lower().strip("[]")] = auth

    def clear(self) -> None:
        self._trunks.clear()

    def refusal(self, target: SipTarget, auth: SipAuth | None) -> int | None:
        """The SIP response code a trunk refuses the call with (None: it takes it)."""
        expected = self._trunks.get(target.host)
        if expected is None:
            return None
        if auth is None:
            return CHALLENGE_UNANSWERED
        return None if auth == expected else CREDENTIALS_REFUSED

    def to_json(self) -> dict[str, Any]:
        """``GET /sim/sip-trunks``: hosts and usernames (passwords are never shown)."""
        return {"sip_trunks": [{"host": host, "username": auth.username} for host, auth in self._trunks.items()]}

    def replace_from_json(self, data: Any) -> None:
        """``PUT /sim/sip-trunks`` ``{"sip_trunks": [{"host", "username", "password"}]}`` replaces them all."""
        items = data.get("sip_trunks") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise ValueError('body must be {"sip_trunks": [{"host", "username", "password"}, ...]}')
        parsed: dict[str, SipAuth] = {}
        for item in items:
            if not isinstance(item, Mapping) or not all(isinstance(item.get(k), str) and item.get(k)
                                                        for k in ("host", "username", "password")):
                raise ValueError("each SIP trunk needs a non-empty host, username and password")
            parsed[str(item["host"]).lower().strip("[]")] = SipAuth(str(item["username"]), str(item["password"]))
        self._trunks = parsed
