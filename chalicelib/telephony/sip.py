"""SIP trunk numbers dialled through Twilio's SIP interface: the ``sip:`` URI, and which hosts may be targets.

Outbound, Twilio's ``Calls.json`` takes ``To=sip:user@host[:port][;transport=udp|tcp|tls]`` with
``SipAuthUsername``/``SipAuthPassword`` (answered to the trunk's digest challenge). The user part is the
dialled number, with the import's ``sip_dial_prefix`` in front and its ``+`` removed when ``sip_strip_plus``.

SIP hosts follow the webhook rules (``chalicelib.delivery.safe_http.why_not_public``): a host that is, or
resolves to, a loopback, private, link-local (incl. 169.254.169.254), multicast, reserved or otherwise
non-public address is refused, at import and again at dial time (DNS can change). ``PARLEY_SIP_ALLOWED_NETWORKS``
(CIDRs, comma separated; empty in AWS) lists networks allowed anyway, as the local stack's 127.0.0.0/8.
A name that does not resolve is accepted at import (its DNS may not be set up yet) and refused when dialling.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.delivery.safe_http import default_resolver, why_not_public

DEFAULT_PORT = 5060
TRANSPORTS = ("udp", "tcp", "tls")
Resolver = Callable[[str, int], list[str]]


def allowed_networks_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    raw = (env if env is not None else os.environ).get("PARLEY_SIP_ALLOWED_NETWORKS", "")
    return tuple(n.strip() for n in raw.split(",") if n.strip())


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Iterable[str]) -> bool:
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    return any(a.version == n.version and a in n for a in candidates for n in nets)


def host_refusal(host: str, port: int = DEFAULT_PORT, *, allowed_networks: Iterable[str] | None = None,
                 resolver: Resolver = default_resolver, unresolved_ok: bool = False) -> str | None:
    """Why ``host`` must not be a SIP target (None: it may be). Every address it resolves to is checked;
    ``unresolved_ok``: a name that does not resolve (yet) passes (import time; dialling checks again)."""
    networks = tuple(allowed_networks if allowed_networks is not None else allowed_networks_from_env())
    bare = _bare(host.strip().lower()).rstrip(".")
    try:
        addresses = [ipaddress.ip_address(bare)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(bare, port)]
        except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
            addresses = []
        if not addresses:
            return None if unresolved_ok else f"{host} does not resolve"
    for address in addresses:
        reason = why_not_public(address)
        if reason is not None and not _allowed(address, networks):
            return f"{host} is {reason}" if str(address) == bare else f"{host} resolves to {address}, {reason}"
    return None


def user_part(number: str, settings: Mapping[str, Any]) -> str:
    """The number as the trunk expects it in the URI's user part (prefix, ``+`` stripped or kept)."""
    dialled = number[1:] if settings.get("sip_strip_plus") and number.startswith("+") else number
    return f"{settings.get('sip_dial_prefix') or ''}{dialled}"


def sip_uri(number: str, settings: Mapping[str, Any]) -> str:
    """``sip:user@host:port[;transport=...]`` for dialling ``number`` through the imported trunk."""
    host = str(settings["sip_host"])
    if ":" in _bare(host) and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    uri = f"sip:{user_part(number, settings)}@{host}:{int(settings.get('sip_port') or DEFAULT_PORT)}"
    transport = settings.get("sip_transport")
    return f"{uri};transport={transport}" if transport else uri


def number_in(address: str) -> str:
    """The user part of a ``sip:``/``sips:`` URI (``sip:+14155550123@x.sip.twilio.com`` -> ``+14155550123``);
    any other value as it is. Twilio's SIP Domain webhooks carry ``To``/``From`` as SIP URIs."""
    value = address.strip()
    for scheme in ("sip:", "sips:"):
        if value.lower().startswith(scheme):
            user = value[len(scheme):].split(";", 1)[0].split("?", 1)[0]
            return user.rpartition("@")[0] if "@" in user else user
    return value

