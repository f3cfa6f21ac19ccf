"""WhatsApp channel (Cloud API): one text message per recipient, ``POST {graph}/{phone_number_id}/messages``.

The attempt is ok only when every recipient got the message; ``detail["sent_to"]`` lists those who did
(and ``detail["failed"]`` the others with their error). A retry currently sends to every recipient again.

Graph errors (``{"error": {"message", "type", "code"}}``): rate limits (4, 80007, 130429, 131056...) and
transient platform errors (1, 2, 131000, 131016, 133004) and 5xx are retried; an invalid token (190),
missing permission, an invalid recipient or a closed 24-hour window (131047) are not.

Note: a free-form text reaches a number only within 24 h of its last message to the business number;
outside it WhatsApp requires a pre-approved template (not supported yet).
"""
from __future__ import annotations

from typing import Any

from chalicelib.delivery.channels.text import (
    CallReport,
    Exchange,
    Reply,
    Stop,
    build_report,
    clip,
    digits,
    http_for,
    one_line,
    plain_text,
    short_code,
)
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import SafeHttp

BODY_LIMIT = 4096
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131056, 133004})
# Token, permission or account problems: every recipient would fail the same way, so stop at the first.
FATAL_CODES = frozenset({0, 3, 10, 190, 200, 100, 131005, 131031, 368, 133010})


class WhatsAppChannel:
    def __init__(self, http: SafeHttp | None = None) -> None:
        self._http = http

    def send(self, request: DeliveryRequest) -> AttemptResult:
        credentials = request.credentials
        missing = [k for k in ("phone_number_id", "access_token") if not credentials.get(k)]
        if missing:
            return AttemptResult(ok=False, error=f"credentials.{missing[0]} is missing", retryable=False)
        recipients = list(dict.fromkeys(str(r) for r in request.config.get("recipients") or []))
        if not recipients:
            return AttemptResult(ok=False, error="no recipients configured", retryable=False)
        url = f"{request.settings.graph_api_url.rstrip('/')}/{digits(str(credentials['phone_number_id']))}/messages"
        sender = _Sender(Exchange(http_for(request, self._http)), url, str(credentials["access_token"]))
        text = message_text(build_report(request.event, request.config, is_test=request.is_test))
        # A retry does not message again those an earlier attempt already reached.
        previous = request.previous_detail
        reached = {r: (previous.get("message_ids") or {}).get(r) for r in previous.get("sent_to") or []
                   if r in recipients}
        sender.sent.update(reached)
        return sender.send_all([r for r in recipients if r not in reached], text)


def message_text(report: CallReport) -> str:
    """The message: bold title, then the plain report (WhatsApp renders *bold*), at most 4096 characters."""
    title = f"*{one_line(report.title)}*\n\n"
    return title + plain_text(report, BODY_LIMIT - len(title), with_title=False)


def message_body(recipient: str, text: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": digits(recipient),
            "type": "text", "text": {"preview_url": True, "body": clip(text, BODY_LIMIT)}}


class _Sender:
    def __init__(self, exchange: Exchange, url: str, token: str) -> None:
        self.exchange = exchange
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sent: dict[str, str | None] = {}  # recipient -> message id
        self.failed: dict[str, tuple[str, bool]] = {}  # recipient -> (error, retryable)

    def send_all(self, recipients: list[str], text: str) -> AttemptResult:
        for i, recipient in enumerate(recipients):
            try:
                reply = self.exchange.call("POST", self.url, json_body=message_body(recipient, text),
                                           headers=self.headers)
            except Stop as stop:  # refused or unreachable: the same for every recipient
                return self._outcome(recipients[i:], stop.result)
            if reply.ok:
                self.sent[recipient] = _message_id(reply)
                continue
            code, error = _graph_error(reply)
            self.failed[recipient] = (error, _retryable(reply.status_code, code))
            if code in FATAL_CODES or reply.status_code in (401, 403):  # the same for everyone: say it once
                return self._outcome(recipients[i + 1:], self.exchange.result(False, error=error, retryable=False))
        return self._outcome([], None)

    def _outcome(self, not_tried: list[str], stopped: AttemptResult | None) -> AttemptResult:
        detail: dict[str, Any] = {"sent_to": list(self.sent), "message_ids": dict(self.sent)}
        if self.failed:
            detail["failed"] = {r: error for r, (error, _) in self.failed.items()}
        if not_tried:
            detail["not_tried"] = not_tried
        if stopped is not None:
            return AttemptResult(ok=False, status_code=stopped.status_code, latency_ms=stopped.latency_ms,
                                 error=stopped.error, retryable=stopped.retryable, refused=stopped.refused,
                                 detail=detail)
        if not self.failed:
            return self.exchange.result(True, detail=detail)
        first_error = next(iter(self.failed.values()))[0]
        count = len(self.failed) + len(detail.get("not_tried", []))
        error = first_error if count == 1 else f"{count} recipients not reached; first: {first_error}"
        retryable = any(retryable for _, retryable in self.failed.values())
        return self.exchange.result(False, error=error, retryable=retryable, detail=detail)


def _graph_error(reply: Reply) -> tuple[int | None, str]:
    """(Graph error code, short error text) from ``{"error": {"message", "type", "code"}}``."""
    error = reply.data.get("error") if isinstance(reply.data, dict) else None
    if not isinstance(error, dict):
        return None, f"whatsapp {reply.status_code}"
    code = error.get("code")
    code = code if isinstance(code, int) else None
    message = short_code(str(error.get("message") or error.get("type") or ""), 160)
    return code, f"whatsapp {reply.status_code}: {code} {message}".rstrip()


def _retryable(status: int, code: int | None) -> bool:
    if code in RETRYABLE_CODES:
        return True
    if code is not None and code in FATAL_CODES:
        return False
    return status >= 500 or status == 429


def _message_id(reply: Reply) -> str | None:
    messages = reply.data.get("messages") if isinstance(reply.data, dict) else None
    return str(messages[0].get("id")) if messages and isinstance(messages[0], dict) else None
