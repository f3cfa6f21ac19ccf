"""Web-call media settings: which TURN relays carry a web call's WebRTC media (CDK context).

``parley_infra.web_media`` applies them. Two modes (context ``webMedia``):

- ``kvs-turn`` (the default): the stack creates one Kinesis Video Streams signaling channel and uses only
  its managed TURN service; the API handler and the streaming tasks fetch short-lived TURN credentials for
  it (``PARLEY_KVS_TURN_CHANNEL_ARN``).
- ``ice-servers``: fixed ICE servers, e.g. a coturn the customer runs (``PARLEY_ICE_SERVERS``, a JSON list
  of ``{"urls", "username", "credential"}``), from context ``iceServers`` or, at synth time, the environment
  variable ``PARLEY_ICE_SERVERS``. At least one must be a TURN server: the tasks sit in private subnets, so a
  browser can only reach one through a relay.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

KVS_TURN = "kvs-turn"
ICE_SERVERS = "ice-servers"
WEB_MEDIA_MODES = (KVS_TURN, ICE_SERVERS)

WEB_MEDIA_CONTEXT_KEYS = {
    "mode": "webMedia",
    "ice_servers": "iceServers",
    "offer_url": "webOfferUrl",
}
"""``WebMediaSettings`` field -> CDK context key (``cdk deploy -c webMedia=ice-servers -c iceServers='[...]'``)."""

ICE_SERVERS_VARIABLE = "PARLEY_ICE_SERVERS"
"""Where the API handler and the streaming task read fixed ICE servers (and synth's fallback for ``iceServers``)."""

MAX_ICE_SERVERS_JSON = 2048
"""A Lambda's environment holds 4 KB in all: the ICE servers may take half of it."""

_ICE_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s\"]{1,505}$")
_TURN_URL = re.compile(r"^turns?:")
_HTTPS_URL = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?$")
_ICE_SERVER_KEYS = frozenset({"urls", "username", "credential"})
MAX_URLS = 16
MAX_LENGTHS = {"username": 512, "credential": 1024}
"""Bounds the app's parser (``chalicelib.domain.ice_servers``) holds ``PARLEY_ICE_SERVERS`` to: refused at synth."""


class _Context(Protocol):
    def try_get_context(self, key: str) -> object: ...


@dataclass(frozen=True)
class IceServer:
    """One ``RTCIceServer``: STUN or TURN URLs and, for TURN, the credentials browsers and tasks use."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.urls) <= MAX_URLS:
            raise ValueError(f"iceServers: every server needs 1 to {MAX_URLS} URLs, got {len(self.urls)}")
        for url in self.urls:
            if not isinstance(url, str) or not _ICE_URL.match(url):
                raise ValueError(f"iceServers: {url!r} is not a stun:, stuns:, turn: or turns: URL (512 characters)")
        for name, value in (("username", self.username), ("credential", self.credential)):
            if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_LENGTHS[name]):
                raise ValueError(f"iceServers: {name} must be a string of 1 to {MAX_LENGTHS[name]} characters")
        if self.is_turn and (self.username is None or self.credential is None):
            raise ValueError(f"iceServers: TURN server {self.urls[0]!r} needs a username and a credential")

    @property
    def is_turn(self) -> bool:
        return any(_TURN_URL.match(url) for url in self.urls)

    def as_json(self) -> dict[str, Any]:
        """The ``RTCIceServer`` dictionary (``urls`` always a list), as the API hands it to browsers."""
        server: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            server["username"] = self.username
        if self.credential is not None:
            server["credential"] = self.credential
        return server

    @classmethod
    def from_json(cls, value: object) -> IceServer:
        if not isinstance(value, Mapping):
            raise ValueError(f"iceServers: each server must be an object, got {value!r}")
        unknown = set(value) - _ICE_SERVER_KEYS
        if unknown:
            raise ValueError(f"iceServers: unknown keys {sorted(unknown)} (use urls, username, credential)")
        urls = value.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, Sequence) or isinstance(urls, str):
            raise ValueError(f"iceServers: urls must be a string or a list of strings, got {urls!r}")
        return cls(urls=tuple(urls), username=value.get("username"), credential=value.get("credential"))


def parse_ice_servers(value: object) -> tuple[IceServer, ...]:
    """ICE servers from a JSON string or an already-parsed list (cdk.json)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"iceServers must be a JSON list of ICE servers ({error})") from None
    if not isinstance(value, list):
        raise ValueError(f"iceServers must be a JSON list of ICE servers, got {value!r}")
    return tuple(IceServer.from_json(server) for server in value)


@dataclass(frozen=True)
class WebMediaSettings:
    """How web calls' media reaches a streaming task (see the module's docstring and ``parley_infra.web_media``)."""

    mode: str = KVS_TURN
    ice_servers: tuple[IceServer, ...] = ()
    """``ice-servers`` mode only: what the browser and the task both configure their peer connection with."""
    offer_url: str | None = None
    """``PARLEY_WEB_OFFER_URL`` override (another front door); None: the streaming ALB's ``/web/offer``."""

    def __post_init__(self) -> None:
        if self.mode not in WEB_MEDIA_MODES:
            raise ValueError(f"webMedia must be one of {', '.join(WEB_MEDIA_MODES)}, got {self.mode!r}")
        if self.mode == KVS_TURN and self.ice_servers:
            raise ValueError("iceServers is only used with webMedia=ice-servers (kvs-turn fetches its own)")
        if self.mode == ICE_SERVERS:
            if not any(server.is_turn for server in self.ice_servers):
                raise ValueError(
                    "webMedia=ice-servers needs iceServers with at least one turn: or turns: server: the streaming "
                    "tasks are in private subnets and browsers reach them only through a relay"
                )
            if len(self.ice_servers_json) > MAX_ICE_SERVERS_JSON:
                raise ValueError(f"iceServers: more than {MAX_ICE_SERVERS_JSON} characters of JSON")
        if self.offer_url is not None and not _HTTPS_URL.match(self.offer_url):
            raise ValueError(f"webOfferUrl must be an https:// URL, got {self.offer_url!r}")

    @property
    def ice_servers_json(self) -> str:
        """``PARLEY_ICE_SERVERS``: the servers as a compact JSON list."""
        return json.dumps([server.as_json() for server in self.ice_servers], separators=(",", ":"))

    @classmethod
    def from_context(cls, node: _Context) -> WebMediaSettings:
        """Settings from CDK context; in ``ice-servers`` mode ``iceServers`` falls back to ``PARLEY_ICE_SERVERS``."""
        mode = node.try_get_context(WEB_MEDIA_CONTEXT_KEYS["mode"]) or KVS_TURN
        if not isinstance(mode, str):
            raise ValueError(f"context webMedia must be a string, got {mode!r}")
        raw = node.try_get_context(WEB_MEDIA_CONTEXT_KEYS["ice_servers"])
        if raw in (None, "") and mode == ICE_SERVERS:
            raw = os.environ.get(ICE_SERVERS_VARIABLE) or None
        offer_url = node.try_get_context(WEB_MEDIA_CONTEXT_KEYS["offer_url"]) or None
        if offer_url is not None and not isinstance(offer_url, str):
            raise ValueError(f"context webOfferUrl must be a string, got {offer_url!r}")
        return cls(
            mode=mode,
            ice_servers=parse_ice_servers(raw) if raw not in (None, "") else (),
            offer_url=offer_url,
        )
