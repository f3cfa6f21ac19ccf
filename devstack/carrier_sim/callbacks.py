"""The Twilio stand-in's outgoing HTTP, sent as Twilio sends it: signed status callbacks and TwiML fetches.

Every webhook is a form POST (or a GET with a query string) carrying ``X-Twilio-Signature`` computed
with the auth token the call was created with. A small thread pool does the network work with one
keep-alive session per thread; a call's callbacks go through its :class:`~devstack.carrier_sim.scheduling.Lane`,
so they are delivered in order, one at a time, while callbacks of different calls go in parallel.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from chalicelib.telephony.twilio_signature import SIGNATURE_HEADER, compute_signature
from devstack.carrier_sim.calls import CallbackRecord
from devstack.carrier_sim.scheduling import Lane, LaneRunner

TWILIO_USER_AGENT = "TwilioProxy/1.1"


class Webhooks:
    """Sends the simulator's webhooks on a pool of ``workers`` threads.

    ``record_lock`` guards the :class:`CallbackRecord` objects it fills in (the simulator's lock, so
    ``/sim/calls`` reads them consistently). A connection that cannot be opened (refused, reset,
    connect timeout) is retried ``retries`` times with a short pause, in the spirit of Twilio's webhook
    connection overrides (``#rc``/``#rp``, which by default retry only failed connections). Read
    timeouts and HTTP error statuses are recorded and not retried.
    """

    def __init__(self, record_lock: AbstractContextManager[Any], *, workers: int = 16, timeout: float = 10.0,
                 retries: int = 2) -> None:
        self.timeout = timeout
        self.retries = retries
        self._record_lock = record_lock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="carrier-sim-net")
        self._lanes = LaneRunner(self._pool)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the pool (dropped when the simulator is stopping)."""
        try:
            self._pool.submit(task)
        except RuntimeError:  # stopping
            pass

    def send_callback(self, lane: Lane, token: str, record: CallbackRecord, params: dict[str, str]) -> None:
        """Queue one status callback on its call's lane (after the call's earlier callbacks)."""
        self._lanes.submit(lane, lambda: self._deliver(token, record, params))

    def fetch_twiml(self, token: str, method: str, url: str, params: dict[str, str]) -> tuple[dict[str, Any], str]:
        """Request a call's TwiML (signed, as Twilio does): ``(fetch record, TwiML text or "")``."""
        fetch: dict[str, Any] = {"url": url, "method": method, "http_status": None, "error": None}
        twiml = ""
        try:
            response = self._signed_request(token, method, url, params, uuid.uuid4().hex)
            fetch["http_status"] = response.status_code
            if 200 <= response.status_code < 300:
                twiml = response.text
            else:
                fetch["error"] = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            fetch["error"] = f"{type(exc).__name__}: {exc}"
        return fetch, twiml

    def close(self) -> None:
        """Drop work not yet started and close every keep-alive session."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._sessions_lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()

    def _session(self) -> requests.Session:
        """A keep-alive HTTP session for the current pool thread."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Webhooks go straight to their URL: no proxy or .netrc from the environment (reading
            # them costs more than the request itself when thousands of callbacks are in flight).
            session.trust_env = False
            session.headers["User-Agent"] = TWILIO_USER_AGENT
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _signed_request(self, token: str, method: str, url: str, params: dict[str, str],
                        idempotency_token: str) -> requests.Response:
        """Send a webhook as Twilio does: form POST (or GET with a query string), signed."""
        headers = {"I-Twilio-Idempotency-Token": idempotency_token}
        body: str | None
        if method == "GET":
            target = url + ("&" if urlsplit(url).query else "?") + urlencode(params)
            headers[SIGNATURE_HEADER] = compute_signature(token, target, {})
            body = None
        else:
            target, body = url, urlencode(params)
            headers[SIGNATURE_HEADER] = compute_signature(token, url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self._session().request(method, target, data=body, headers=headers, timeout=self.timeout,
                                       allow_redirects=False)

    def _deliver(self, token: str, record: CallbackRecord, params: dict[str, str]) -> None:
        """Send one status callback, retrying connection failures, and record the outcome."""
        idempotency_token = uuid.uuid4().hex
        attempts = 1 + self.retries
        for attempt in range(1, attempts + 1):
            status, error, retry = None, None, False
            try:
                response = self._signed_request(token, record.method, record.url, params, idempotency_token)
                status = response.status_code
            except requests.ConnectionError as exc:
                error, retry = f"connection error: {exc}", True
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            retry = retry and attempt < attempts
            with self._record_lock:
                record.attempts = attempt
                record.sent_at = time.time()
                record.http_status, record.error = status, error
                if not retry:
                    record.finished_at = record.sent_at
            if not retry:
                return
            time.sleep(0.1 * attempt)
