"""ICE servers (STUN/TURN) for a web call's WebRTC peers: the browser's and the streaming task's.

Both the API (``POST /web-calls`` hands them to the page) and the streaming service (for its own peer) ask
an :class:`IceServers` they own; it reads the environment when it is made:

- ``PARLEY_KVS_TURN_CHANNEL_ARN`` set: Kinesis Video Streams' managed TURN. The channel's HTTPS signaling
  endpoint (``GetSignalingChannelEndpoint``, as MASTER) is asked for TURN credentials
  (``GetIceServerConfig``, Service TURN); they are kept while they have more than ``min_remaining_s`` of
  life left, and KVS's STUN server (``stun:stun.kinesisvideo.<region>.amazonaws.com:443``) comes first.
- otherwise ``PARLEY_ICE_SERVERS``: a JSON list of ``{"urls": str | [str], "username"?, "credential"?}``
  (default ``[]``: host candidates only, enough on one machine or a LAN).

Servers come out in the browser's ``RTCIceServer`` shape: ``{"urls": [...], "username"?, "credential"?}``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import boto3
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib import aws_clients

ICE_SERVERS_ENV = "PARLEY_ICE_SERVERS"
KVS_CHANNEL_ENV = "PARLEY_KVS_TURN_CHANNEL_ARN"
DEFAULT_MIN_REMAINING_S = 120  # a page uses its servers within the token's minute; the call lasts longer
_Url = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^(stun|stuns|turn|turns):\S+$")]


class IceConfigError(RuntimeError):
    """The ICE configuration is not usable (a malformed ``PARLEY_ICE_SERVERS``, KVS unreachable)."""


class IceServer(BaseModel):
    """One ``RTCIceServer``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    urls: Annotated[list[_Url], Field(min_length=1, max_length=16)]
    username: Annotated[str, Field(max_length=512)] | None = None
    credential: Annotated[str, Field(max_length=1024)] | None = None

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _configured_server(item: Any) -> IceServer:
    if isinstance(item, Mapping) and isinstance(item.get("urls"), str):
        item = {**item, "urls": [item["urls"]]}  # RTCIceServer.urls may be one string
    return IceServer.model_validate(item)


def parse_configured(raw: str) -> list[IceServer]:
    """``PARLEY_ICE_SERVERS``'s servers; ``IceConfigError`` naming what is wrong."""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
        if not isinstance(items, list):
            raise IceConfigError(f"{ICE_SERVERS_ENV} must be a JSON list of {{urls, username?, credential?}}")
        return [_configured_server(item) for item in items]
    except (ValueError, ValidationError) as error:
        raise IceConfigError(f"{ICE_SERVERS_ENV} is not a valid list of ICE servers: {error}") from None


def kvs_stun_url(region: str) -> str:
    return f"stun:stun.kinesisvideo.{region}.amazonaws.com:443"


def channel_region(channel_arn: str) -> str:
    """The region of a KVS signaling channel ARN (``arn:aws:kinesisvideo:<region>:<account>:channel/...``)."""
    parts = channel_arn.split(":")
    if len(parts) < 6 or parts[2] != "kinesisvideo" or not parts[3]:
        raise IceConfigError(f"{KVS_CHANNEL_ENV} is not a Kinesis Video signaling channel ARN")
    return parts[3]


SignalingClientFactory = Callable[[str, str], Any]
"""(HTTPS endpoint, region) -> a ``kinesis-video-signaling`` client for that endpoint."""


def _signaling_client(endpoint: str, region: str) -> Any:
    # A private session (boto3's default one is not safe to make clients from in several threads).
    return boto3.session.Session().client("kinesis-video-signaling", region_name=region, endpoint_url=endpoint)


@dataclass
class IceServers:
    """The ICE servers to hand out, cached while they are valid. Thread-safe; one per process (its owner's).

    ``kinesisvideo`` and ``signaling_client`` are for tests; by default the process's clients are used.
    """

    kvs_channel_arn: str | None = None
    configured: list[IceServer] = field(default_factory=list)
    min_remaining_s: float = DEFAULT_MIN_REMAINING_S
    kinesisvideo: Any = None
    signaling_client: SignalingClientFactory = _signaling_client
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _endpoint: str | None = field(default=None, repr=False)
    _signaling: Any = field(default=None, repr=False)
    _cached: list[IceServer] = field(default_factory=list, repr=False)
    _expires_at: float = field(default=0.0, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> IceServers:
        """From ``PARLEY_KVS_TURN_CHANNEL_ARN`` / ``PARLEY_ICE_SERVERS``; ``IceConfigError`` if they are malformed."""
        env = os.environ if environ is None else environ
        arn = (env.get(KVS_CHANNEL_ENV) or "").strip() or None
        if arn:
            channel_region(arn)
            return cls(kvs_channel_arn=arn, **kwargs)
        return cls(configured=parse_configured(env.get(ICE_SERVERS_ENV, "")), **kwargs)

    def servers(self) -> list[IceServer]:
        if not self.kvs_channel_arn:
            return list(self.configured)
        with self._lock:
            if self._expires_at - self.clock() <= self.min_remaining_s:
                self._refresh(self.kvs_channel_arn)
            return [IceServer(urls=[kvs_stun_url(channel_region(self.kvs_channel_arn))]), *self._cached]

    def as_json(self) -> list[dict[str, Any]]:
        """The list a page passes to ``new RTCPeerConnection({iceServers})``."""
        return [server.as_json() for server in self.servers()]

    def _refresh(self, arn: str) -> None:
        region = channel_region(arn)
        try:
            if self._signaling is None:
                kinesisvideo = self.kinesisvideo or aws_clients.client("kinesisvideo", region=region)
                found = kinesisvideo.get_signaling_channel_endpoint(
                    ChannelARN=arn,
                    SingleMasterChannelEndpointConfiguration={"Protocols": ["HTTPS"], "Role": "MASTER"})
                endpoints = [e["ResourceEndpoint"] for e in found.get("ResourceEndpointList", [])
                             if e.get("Protocol") == "HTTPS" and e.get("ResourceEndpoint")]
                if not endpoints:
                    raise IceConfigError("the KVS channel has no HTTPS signaling endpoint")
                self._endpoint = endpoints[0]
                self._signaling = self.signaling_client(self._endpoint, region)
            config = self._signaling.get_ice_server_config(ChannelARN=arn, Service="TURN")
        except IceConfigError:
            raise
        except Exception as error:  # botocore's ClientError, endpoint errors...: the caller answers "unavailable"
            self._signaling = None  # ask for the endpoint again next time
            raise IceConfigError(f"KVS TURN credentials unavailable: {type(error).__name__}") from error
        servers, ttls = [], []
        for item in config.get("IceServerList", []):
            servers.append(IceServer(urls=list(item["Uris"]), username=item.get("Username"),
                                     credential=item.get("Password")))
            ttls.append(float(item.get("Ttl") or 0))
        self._cached = servers
        self._expires_at = self.clock() + (min(ttls) if ttls else 0)
