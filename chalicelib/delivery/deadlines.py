"""One total deadline per HTTP exchange (connect + send + headers + body), for ``safe_http``.

Socket timeouts bound each read, not the exchange: a receiver dripping a byte every half second keeps
every read inside its timeout and holds the request as long as it likes. Here each exchange gets an
``Expiry``; the connection it runs on attaches itself to it (``WatchedHTTPConnection`` /
``WatchedHTTPSConnection``, used by the pools ``pool_for`` builds), and one ``Watchdog`` thread per client
shuts the connection's socket down when the deadline passes, which ends whatever read or write is blocked
on it at once. Connecting is bounded by the connect timeout, which CPython applies to the TCP connect and
to the whole TLS handshake (not per read); the watchdog covers everything after it.

The exchange asks ``Expiry.end()`` before it gives the connection back to the pool: once that answered,
the watchdog never touches the socket again; if it answers True the deadline passed, the socket was shut
down, and the connection must be dropped and the exchange reported as a timeout.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

_IDLE_EXIT_S = 10.0  # the watchdog thread ends after this long with nothing to watch (it restarts on demand)


class Expiry:
    """One exchange's deadline (``time.monotonic()`` seconds) and the connection it runs on."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._lock = threading.Lock()
        self._connection: HTTPConnection | None = None
        self._expired = False
        self._ended = False

    def attach(self, connection: HTTPConnection) -> None:
        """The exchange runs on ``connection`` (called once connected and when a request starts on it)."""
        with self._lock:
            if self._ended:
                return
            self._connection = connection
            if self._expired:
                _shut_down(connection)

    def expire(self) -> None:
        """The deadline passed: shut the connection's socket down (nothing, if the exchange already ended)."""
        with self._lock:
            if self._ended or self._expired:
                return
            self._expired = True
            if self._connection is not None:
                _shut_down(self._connection)

    def end(self) -> bool:
        """The exchange is over (idempotent): True when the deadline passed first."""
        with self._lock:
            self._ended = True
            self._connection = None
            return self._expired


def _shut_down(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is None:
        return  # not connected yet: ``attach`` after connecting shuts it down
    try:
        # the plain socket's shutdown, also for TLS sockets: it wakes a blocked read without unwrapping TLS
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the exchange itself


class Watchdog:
    """Calls ``Expiry.expire`` when each watched deadline passes, from one lazily started daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Expiry]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._running = False

    def watch(self, expiry: Expiry) -> None:
        with self._wake:
            heapq.heappush(self._heap, (expiry.deadline, next(self._order), expiry))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="safe-http-deadlines", daemon=True).start()
            elif self._heap[0][2] is expiry:
                self._wake.notify()  # the new deadline comes first: wake to wait for it instead

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    if not self._wake.wait(_IDLE_EXIT_S) and not self._heap:
                        self._running = False
                        return
                now = time.monotonic()
                due: list[Expiry] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._wake.wait(self._heap[0][0] - now)
                    continue
            for expiry in due:  # most have ended long before: expiring them does nothing
                expiry.expire()


class Deadlines:
    """A client's deadline keeping: ``begin`` an exchange in the calling thread, ``end`` it on its expiry.

    The connection the pool hands out learns the current exchange's expiry from this object (a
    thread-local: the pool runs the exchange in the caller's thread)."""

    def __init__(self) -> None:
        self._current = threading.local()
        self._watchdog = Watchdog()

    def begin(self, deadline: float) -> Expiry:
        expiry = Expiry(deadline)
        self._current.expiry = expiry
        self._watchdog.watch(expiry)
        return expiry

    def finish(self, expiry: Expiry) -> bool:
        """End ``expiry`` and forget it; True when the deadline passed first."""
        if getattr(self._current, "expiry", None) is expiry:
            self._current.expiry = None
        return expiry.end()

    def attach(self, connection: HTTPConnection) -> None:
        expiry: Expiry | None = getattr(self._current, "expiry", None)
        if expiry is not None:
            expiry.attach(connection)


class _Watched:
    """Mixed into urllib3's connection classes: attach to the current exchange's expiry."""

    deadlines: Deadlines

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]  # urllib3's connection classes are typed as Protocols
        self.deadlines.attach(self)  # type: ignore[arg-type]  # a Watched* connection is an HTTPConnection at run time

    def request(self, *args: Any, **kwargs: Any) -> None:
        self.deadlines.attach(self)  # type: ignore[arg-type]  # a Watched* connection is an HTTPConnection at run time
        super().request(*args, **kwargs)  # type: ignore[misc]  # urllib3's connection classes are typed as Protocols


class WatchedHTTPConnection(_Watched, HTTPConnection):
    def __init__(self, *args: Any, deadlines: Deadlines, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    def __init__(self, *args: Any, deadlines: Deadlines, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


def pool_for(scheme: str, ip: str, port: int, host: str, deadlines: Deadlines, ca_certs: str | None,
             maxsize: int) -> urllib3.HTTPConnectionPool:
    """A keep-alive pool to the checked ``ip`` whose connections keep ``deadlines``; TLS is verified against
    ``host`` (the URL's host name), not the address."""
    common: dict[str, Any] = {"maxsize": maxsize, "block": False, "retries": False, "deadlines": deadlines}
    if scheme == "http":
        return _HTTPPool(ip, port, **common)
    return _HTTPSPool(ip, port, cert_reqs="CERT_REQUIRED", ca_certs=ca_certs, server_hostname=host,
                      assert_hostname=host, **common)
