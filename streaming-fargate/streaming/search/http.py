"""Outbound HTTP for search providers: ``chalicelib.delivery.safe_http`` (the SSRF guard the webhooks use),
run off the event loop on a small pool of its own, with errors turned into :class:`SearchError`.

Only public addresses are reached. ``PARLEY_SEARCH_ALLOWED_NETWORKS`` (comma-separated CIDRs, empty in a
deployment) lists private networks a provider may resolve to anyway: the local stack sets ``127.0.0.0/8`` so
its SearXNG stand-in on 127.0.0.1 is reachable, the same pattern as ``PARLEY_DELIVERY_ALLOWED_NETWORKS``.
The link-local range (169.254.0.0/16: instance and task metadata) is never allowed, whatever the list says.

:meth:`SearchHttp.session` hands a ``requests.Session`` whose every request goes through the same guard, for
official clients that accept a session (``tavily-python``).
"""
from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from chalicelib.delivery.safe_http import HttpFailure, HttpResponse, Refused, Resolver, SafeHttp
from streaming.search.base import SearchError, SearchProviderError, SearchRefused, SearchTimeout

ALLOWED_NETWORKS_ENV = "PARLEY_SEARCH_ALLOWED_NETWORKS"
MAX_RESPONSE_BYTES = 256 * 1024  # a SearXNG page of results is ~20-60 KB; anything past this is refused
_NEVER_ALLOWED = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_WORKERS = 8  # searches in flight at once per process; each is bounded by its deadline

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def search_executor() -> ThreadPoolExecutor:
    """The threads blocking search calls run on (not the default executor, which the engines use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="search")
        return _executor


async def run_blocking(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` on the search threads. Cancelling the await (a deadline) returns at once;
    the thread finishes on its own, bounded by the timeout its call was given."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(search_executor(), lambda: function(*args, **kwargs))


def allowed_networks_from(env: Mapping[str, str]) -> tuple[str, ...]:
    """The CIDRs of ``PARLEY_SEARCH_ALLOWED_NETWORKS``, minus any that overlap link-local (never allowed)."""
    networks = []
    for raw in env.get(ALLOWED_NETWORKS_ENV, "").split(","):
        if not raw.strip():
            continue
        network = ipaddress.ip_network(raw.strip(), strict=False)
        if any(network.version == never.version and network.overlaps(never) for never in _NEVER_ALLOWED):
            raise ValueError(f"{ALLOWED_NETWORKS_ENV}: {network} overlaps the link-local range, which is never "
                             "allowed")
        networks.append(str(network))
    return tuple(networks)


class SearchHttp:
    """The SSRF-safe client every search provider uses. Thread-safe; share one per process."""

    def __init__(self, allowed_networks: tuple[str, ...] = (), *, resolver: Resolver | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.allowed_networks = allowed_networks
        self._http = SafeHttp(allowed_networks=allowed_networks, timeout_s=2.5, max_redirects=2, resolver=resolver,
                              max_body_bytes=max_response_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SearchHttp:
        return cls(allowed_networks_from(env))

    def request(self, method: str, url: str, *, provider: str, timeout_s: float, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> HttpResponse:
        """One guarded exchange (blocking). Raises SearchRefused, SearchTimeout or SearchProviderError (also for
        an answer over the size cap); any status is returned."""
        try:
            response = self._http.request(method, url, body=body, headers=headers, timeout_s=timeout_s)
        except Refused as refusal:
            raise SearchRefused(f"the {provider} address is not allowed ({_reason(refusal)})",
                                provider=provider) from None
        except HttpFailure as failure:
            if str(failure).startswith("timeout"):
                raise SearchTimeout(f"{provider} did not answer in time", provider=provider) from None
            raise SearchProviderError(f"could not reach {provider}: {failure}", provider=provider) from None
        if response.truncated:
            raise SearchProviderError(f"{provider} answered more than {self._http.max_body_bytes // 1024} KiB",
                                      provider=provider)
        return response

    def json_exchange(self, method: str, url: str, *, provider: str, timeout_s: float, payload: Any = None,
                      headers: Mapping[str, str] | None = None) -> Any:
        """Send (optionally a JSON ``payload``), check the status, and parse the JSON answer (blocking)."""
        sent = dict(headers or {})
        sent.setdefault("Accept", "application/json")
        body = None
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":")).encode()
            sent.setdefault("Content-Type", "application/json")
        response = self.request(method, url, provider=provider, timeout_s=timeout_s, body=body, headers=sent)
        check_status(response.status_code, provider)
        try:
            return response.json()
        except ValueError:
            raise SearchProviderError(f"{provider} answered something that is not JSON", provider=provider) from None

    async def get_json(self, url: str, *, provider: str, timeout_s: float,
                       headers: Mapping[str, str] | None = None) -> Any:
        return await run_blocking(self.json_exchange, "GET", url, provider=provider, timeout_s=timeout_s,
                                  headers=headers)

    async def post_json(self, url: str, payload: Any, *, provider: str, timeout_s: float,
                        headers: Mapping[str, str] | None = None) -> Any:
        return await run_blocking(self.json_exchange, "POST", url, provider=provider, timeout_s=timeout_s,
                                  payload=payload, headers=headers)

    def session(self, provider: str, timeout_s: float) -> requests.Session:
        """A ``requests.Session`` whose requests (any URL) go through this guard, each within ``timeout_s``."""
        session = requests.Session()
        adapter = _GuardedAdapter(self, provider, timeout_s)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        self._http.close()


def check_status(status: int, provider: str) -> None:
    """SearchError for an HTTP status that is not a success (the message never holds the provider's body)."""
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise SearchProviderError(f"{provider} refused the request (HTTP {status}: check the API key)",
                                  provider=provider)
    if status == 429:
        raise SearchProviderError(f"{provider} is rate limiting us (HTTP 429)", provider=provider)
    raise SearchProviderError(f"{provider} answered HTTP {status}", provider=provider)


class _GuardedAdapter(BaseAdapter):
    """requests' transport interface (``BaseAdapter.send``) implemented with :class:`SearchHttp`."""

    def __init__(self, http: SearchHttp, provider: str, timeout_s: float) -> None:
        super().__init__()
        self._search_http = http
        self._provider = provider
        self._timeout_s = timeout_s

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        budget = self._timeout_s
        if isinstance(timeout, int | float):
            budget = min(budget, float(timeout))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            raise SearchProviderError(f"{self._provider}: streamed request bodies are not supported",
                                      provider=self._provider)
        answer = self._search_http.request(request.method or "GET", request.url or "", provider=self._provider,
                                           timeout_s=budget, body=body, headers=_text_headers(request.headers))
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(answer.body)
        response.url = answer.url or request.url or ""
        response.reason = ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: the pooled connections belong to the shared SearchHttp."""


def _text_headers(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    return {name: value.decode("latin-1") if isinstance(value, bytes) else value for name, value in headers.items()}


def _reason(refusal: Refused) -> str:
    return str(refusal).removeprefix("refused: ")


__all__ = ["MAX_RESPONSE_BYTES", "SearchError", "SearchHttp", "allowed_networks_from", "run_blocking"]
