"""The webhook channel: POST the call's results as JSON, signed the Standard Webhooks way.

Wire format (one attempt):

    POST <config.url>
    content-type: application/json
    user-agent: Parley-Webhooks/1
    webhook-id: <the delivery's id, the same on every attempt: receivers deduplicate on it>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<sig> [v1,<sig with the previous secret, during a rotation>]
    x-parley-event: call.completed
    x-parley-attempt: <n>
    <payloads.body_for(config, event): byte-identical on every attempt>

Outcome: 2xx ok; 410 Gone -> ``gone`` (the engine disables the action), not retried; any other
status retried; a refused target (SSRF rules) is not retried; timeouts and connection errors are; a
``payload_template`` rendering over ``templates.MAX_RENDERED_BYTES`` fails at once, not retried (nothing is sent).
"""
from __future__ import annotations

import time
from typing import Any

from chalicelib.delivery import payloads, signing, templates
from chalicelib.delivery.channels.text import http_for
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import HttpFailure, HttpResponse, Refused, SafeHttp

USER_AGENT = "Parley-Webhooks/1"
EXCERPT_CHARS = 500

def signing_secrets(credentials: dict[str, Any], now: float | None = None) -> list[str]:
    """The current secret, then the previous one while its rotation grace window lasts.

    ``previous_signing_secret_expires_at`` (unix seconds) ends the window; a previous secret stored
    without it is used until the engine removes it."""
    current = credentials.get("signing_secret")
    found = [current] if current else []
    previous = credentials.get("previous_signing_secret")
    if previous and previous != current:
        expires_at = credentials.get("previous_signing_secret_expires_at")
        moment = time.time() if now is None else now
        try:
            in_window = expires_at in (None, "") or float(expires_at) > moment
        except (TypeError, ValueError):
            in_window = False  # unreadable expiry: treat the window as over
        if in_window:
            found.append(previous)
    return found


def _excerpt(response: HttpResponse) -> dict[str, Any]:
    return {"response_excerpt": response.text[:EXCERPT_CHARS]} if response.body else {}


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class WebhookChannel:
    """Channel ``webhook``: see the module docstring. ``http`` defaults to a process-wide SafeHttp
    built from the request's ``settings.allowed_networks``."""

    def __init__(self, http: SafeHttp | None = None) -> None:
        self._http = http

    def send(self, request: DeliveryRequest) -> AttemptResult:
        url = request.config.get("url")
        if not url:
            return AttemptResult(ok=False, error="the webhook action has no url", retryable=False)
        secrets = signing_secrets(request.credentials)
        if not secrets:
            return AttemptResult(ok=False, error="the webhook action has no signing secret", retryable=False)
        try:
            body = payloads.body_for(request.config, request.event)
        except templates.RenderedTooLarge as too_large:  # the same on every attempt: not retried
            return AttemptResult(ok=False, error=str(too_large), retryable=False)
        try:
            signature_headers = signing.headers(secrets, request.webhook_id, body)
        except ValueError as error:
            return AttemptResult(ok=False, error=f"the webhook action's signing secret is unusable: {error}",
                                 retryable=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers,
            "X-Parley-Event": str(request.event.get("event_type") or payloads.EVENT_TYPE),
            "X-Parley-Attempt": str(request.attempt),
        }
        if request.is_test:
            headers["X-Parley-Test"] = "true"
        http = http_for(request, self._http)  # the worker passes its one pooled client
        started = time.perf_counter()
        try:
            response = http.request("POST", url, body=body, headers=headers, timeout_s=request.settings.timeout_s)
        except Refused as refusal:
            return AttemptResult(ok=False, latency_ms=_elapsed_ms(started), error=str(refusal),
                                 retryable=False, refused=True)
        except HttpFailure as failure:
            return AttemptResult(ok=False, latency_ms=_elapsed_ms(started), error=str(failure), retryable=True)
        return self._result(response, _elapsed_ms(started))

    @staticmethod
    def _result(response: HttpResponse, latency_ms: float) -> AttemptResult:
        status = response.status_code
        detail = _excerpt(response)
        if response.ok:
            return AttemptResult(ok=True, status_code=status, latency_ms=latency_ms, detail=detail)
        if status == 410:
            return AttemptResult(ok=False, status_code=status, latency_ms=latency_ms, error="receiver answered 410",
                                 retryable=False, gone=True, detail=detail)
        return AttemptResult(ok=False, status_code=status, latency_ms=latency_ms,
                             error=f"receiver answered {status}", retryable=True, detail=detail)
