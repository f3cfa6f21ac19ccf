"""Outbound HTTP that only reaches public addresses (SSRF guard), for every channel.

Interface (implemented by the webhook work; other channels use it as is):

    http = SafeHttp(allowed_networks=("127.0.0.0/8",), timeout_s=10.0)
    response = http.request("POST", url, body=b"...", headers={...})   # -> HttpResponse
    # raises Refused (target not allowed: message says which address and why, e.g.
    #   "refused: 127.0.0.1 is a loopback address") or HttpFailure (timeout, connection error).

The host is resolved once, every address checked (loopback, private, link-local incl. 169.254.0.0/16,
multicast, reserved, unspecified, IPv6 equivalents incl. IPv4-mapped), and the connection pinned to a
checked address (no second lookup: DNS rebinding proof), TLS still verified against the host name.
Redirects (3xx with Location) are followed up to ``max_redirects`` hops with the same method and
body, each hop checked the same way. Connections are pooled; the object is thread-safe.

Details worth knowing:

* ``timeout_s`` bounds the whole ``request`` call: every redirect hop, each with its connect, send, headers
  and body under one deadline (``deadlines``: a receiver dripping bytes cannot stretch it).
* Response bodies are capped at ``max_body_bytes`` (default ``MAX_BODY_BYTES``, 64 KiB); ``HttpResponse.truncated``
  says so.
* Credentials (``Authorization``, ``Cookie``, ``Proxy-Authorization``) are dropped when a redirect
  leaves the original scheme/host/port, so a receiver cannot bounce a channel's token elsewhere.
* ``http://user:pass@host/`` becomes an ``Authorization: Basic`` header (userinfo is never sent as is).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import unquote, urljoin

import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationParseError,
)
from urllib3.util import parse_url

from chalicelib.delivery.deadlines import Deadlines, pool_for
from chalicelib.delivery.http_messages import describe, display, short, shown

try:  # certifi ships with botocore's dependency tree; fall back to the system store without it
    import certifi

    _CA_CERTS: str | None = certifi.where()
except ImportError:  # pragma: no cover - depends on the environment
    _CA_CERTS = None

MAX_BODY_BYTES = 64 * 1024
_READ_CHUNK = 16 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_MAX_POOLS = 64  # distinct (scheme, ip, port, host) targets kept warm; least recently used go first
_POOL_MAXSIZE = 16  # idle keep-alive connections kept per target (more may be open at once)

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The target is not allowed (scheme, or an address that is not public): nothing was sent."""


class HttpFailure(Exception):
    """The request could not complete (DNS, connect, timeout, reset, TLS, too many redirects)."""


@dataclass(frozen=True)
class HttpResponse:
    """What came back. ``headers`` keys are lower-cased (repeated headers joined with ", ");
    ``body`` holds at most the client's ``max_body_bytes``; ``url`` is the final URL after redirects."""

    status_code: int
    headers: dict[str, str]
    body: bytes
    latency_ms: float
    url: str = ""
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError if it is not, or was truncated mid-document)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class _Target:
    """One parsed, not yet checked, URL."""

    scheme: str
    host: str  # no brackets, lower-case
    port: int
    host_header: str  # host[:port] as written in the URL
    request_uri: str  # path?query
    basic_auth: str | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def default_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (deduplicated, resolver order)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def why_not_public(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached from a server in a VPC (None: it is public).

    IPv4-mapped IPv6 (``::ffff:10.0.0.1``) is judged as the IPv4 address it carries, so the IPv6
    spelling of a private address is refused like the address itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),  # 169.254.169.254: instance/task metadata
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE,
         "a shared address (100.64.0.0/10)"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "a site-local address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _parse(url: str) -> _Target:
    """Split ``url`` into what we connect to and what we send; Refused for anything but http(s)."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise Refused("refused: the URL is not valid") from None  # never echoed: it may hold credentials
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise Refused(f"refused: scheme {scheme or '(none)'!r} is not allowed (http or https only)")
    if not parsed.host:
        raise Refused("refused: the URL has no host")
    host = parsed.host.lower()
    bare_host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    port = parsed.port or _DEFAULT_PORTS[scheme]
    host_header = host if parsed.port is None else f"{host}:{parsed.port}"
    basic = None
    if parsed.auth:
        basic = "Basic " + base64.b64encode(unquote(parsed.auth).encode()).decode()
    return _Target(scheme, bare_host, port, host_header, parsed.request_uri or "/", basic)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class SafeHttp:
    """A pooled, thread-safe HTTP client that refuses non-public targets (see module docstring).

    ``allowed_networks``: CIDRs reachable although not public (the local stack's 127.0.0.0/8).
    ``resolver(host, port) -> [ip, ...]`` replaces DNS (tests). ``ca_certs``: a CA bundle file to
    verify TLS with instead of certifi's (tests, private CAs). ``max_body_bytes``: the response body cap."""

    def __init__(self, allowed_networks: Iterable[str] = (), timeout_s: float = 10.0, max_redirects: int = 3,
                 resolver: Resolver | None = None, ca_certs: str | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.allowed_networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in allowed_networks if n.strip())
        self.timeout_s = float(timeout_s)
        self.max_redirects = int(max_redirects)
        self.max_body_bytes = int(max_body_bytes)
        self._resolve = resolver or default_resolver
        self._ca_certs = ca_certs or _CA_CERTS
        self._pools: OrderedDict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = OrderedDict()
        self._lock = threading.Lock()
        self._deadlines = Deadlines()

    # -- public ---------------------------------------------------------------------------------

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout_s: float | None = None) -> HttpResponse:
        """Send one request, following redirects (same method and body), every hop checked.

        Raises Refused before any connection to a target that is not allowed, HttpFailure when the
        exchange fails; any HTTP status (4xx/5xx included) is returned as an HttpResponse."""
        budget = self.timeout_s if timeout_s is None else float(timeout_s)
        started = time.perf_counter()
        deadline = started + budget
        target = _parse(url)
        sent_headers = dict(headers or {})
        hops: list[str] = []
        current_url = url
        while True:
            ip = self._checked_address(target, via=None if not hops else shown(current_url))
            status, response_headers, data, truncated = self._exchange(
                method, target, ip, body, sent_headers, deadline, budget)
            location = response_headers.get("location")
            if status not in _REDIRECT_STATUSES or not location:
                return HttpResponse(status, response_headers, data, (time.perf_counter() - started) * 1000,
                                    url=current_url, truncated=truncated, redirects=hops)
            if len(hops) >= self.max_redirects:
                raise HttpFailure(f"too many redirects (more than {self.max_redirects})")
            next_url = urljoin(current_url, location)
            try:
                next_target = _parse(next_url)
            except Refused as refusal:
                raise Refused(f"refused: redirect to {shown(next_url)}: {_reason(refusal)}") from None
            if next_target.origin != target.origin:
                sent_headers = {k: v for k, v in sent_headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            hops.append(next_url)
            current_url, target = next_url, next_target

    def post_json(self, url: str, payload: Any, headers: Mapping[str, str] | None = None, *,
                  timeout_s: float | None = None) -> HttpResponse:
        """POST ``payload`` as compact UTF-8 JSON (content-type added unless given)."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        merged = dict(headers or {})
        if not any(k.lower() == "content-type" for k in merged):
            merged["Content-Type"] = "application/json"
        return self.request("POST", url, body=body, headers=merged, timeout_s=timeout_s)

    def close(self) -> None:
        """Close every pooled connection (the object stays usable)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            pool.close()

    # -- address checks -------------------------------------------------------------------------

    def _allowed(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a.version == n.version and a in n for a in candidates for n in self.allowed_networks)

    def _checked_address(self, target: _Target, via: str | None) -> str:
        """The address to connect to, once every address of the host passed the check.

        Refusing when ANY address is not public matters: a name answering both a public and a
        private address could otherwise be steered to the private one by connection fallback."""
        literal = _ip_literal(target.host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                resolved = self._resolve(target.host, target.port)
            except (OSError, UnicodeError) as error:
                raise HttpFailure(f"could not resolve {target.host}: {short(error)}") from None
            addresses = [ipaddress.ip_address(a) for a in resolved]
            if not addresses:
                raise HttpFailure(f"could not resolve {target.host}: no address")
        for address in addresses:
            if self._allowed(address):
                continue
            reason = why_not_public(address)
            if reason is not None:
                prefix = "refused: " if via is None else f"refused: redirect to {via}: "
                raise Refused(f"{prefix}{display(address)} is {reason}")
        return str(addresses[0])

    # -- the exchange ---------------------------------------------------------------------------

    def _pool(self, target: _Target, ip: str) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, ip, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            pool = pool_for(target.scheme, ip, target.port, target.host, self._deadlines, self._ca_certs,
                            _POOL_MAXSIZE)
            self._pools[key] = pool
            evicted = self._pools.popitem(last=False)[1] if len(self._pools) > _MAX_POOLS else None
        if evicted is not None:
            evicted.close()
        return pool

    def _exchange(self, method: str, target: _Target, ip: str, body: bytes | None, headers: dict[str, str],
                  deadline: float, budget: float) -> tuple[int, dict[str, str], bytes, bool]:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise HttpFailure(f"timeout after {budget} s")
        wire_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        wire_headers["Host"] = target.host_header
        if target.basic_auth and not any(k.lower() == "authorization" for k in wire_headers):
            wire_headers["Authorization"] = target.basic_auth
        if not any(k.lower() == "user-agent" for k in wire_headers):
            wire_headers["User-Agent"] = "Parley/1"
        pool = self._pool(target, ip)
        expiry = self._deadlines.begin(time.monotonic() + remaining)  # one deadline for the whole exchange
        try:
            response = pool.urlopen(method.upper(), target.request_uri, body=body, headers=wire_headers,
                                    retries=False, redirect=False, assert_same_host=False,
                                    timeout=urllib3.Timeout(total=remaining), preload_content=False)
            complete = False
            try:
                data, truncated = _read_capped(response, deadline, budget, self.max_body_bytes)
                complete = not truncated
            finally:
                expired = self._deadlines.finish(expiry)  # before the connection can go back to the pool
                _finish(response, reusable=complete and not expired)
        except (HTTPError, HTTPException, OSError) as error:  # OSError: raw socket errors urllib3 did not wrap
            timed_out = self._deadlines.finish(expiry)
            raise HttpFailure(f"timeout after {budget} s" if timed_out else describe(error, budget)) from None
        finally:
            self._deadlines.finish(expiry)
        if expired:  # the socket was shut down at the deadline: what was read may be cut short
            raise HttpFailure(f"timeout after {budget} s")
        lowered = {k.lower(): v for k, v in response.headers.items()}
        return response.status, lowered, data, truncated


def _read_capped(response: urllib3.BaseHTTPResponse, deadline: float, budget: float,
                 cap: int = MAX_BODY_BYTES) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, within the request's deadline (a slow drip times out)."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        if time.perf_counter() > deadline:
            raise HttpFailure(f"timeout after {budget} s")
        chunk = response.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


def _finish(response: urllib3.BaseHTTPResponse, reusable: bool) -> None:
    """Give the connection back for keep-alive when the body was read to its end, else drop it:
    unread bytes (a truncated body, a timeout mid-read) would corrupt the next exchange on it."""
    if not reusable:
        response.close()
    response.release_conn()


def _reason(refusal: Refused) -> str:
    return str(refusal).removeprefix("refused: ")
