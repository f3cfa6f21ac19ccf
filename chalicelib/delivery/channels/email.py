"""Email channel: one message per call to the action's ``recipients``, through Amazon SES (``SendEmail``).

The message has a text part and an HTML part (every call value HTML-escaped) with the summary, sentiment,
extracted variables, recording link and transcript, as the action's ``include`` list allows.

The platform's sender relays these messages, so they are bounded: at most ``MAX_RECIPIENTS`` per action
(the API refuses more; an older action with more fails without sending), at most the account's daily
quota of emails (``quota``, see ``chalicelib.domain.rate_limits``; beyond it a delivery fails for good,
recorded, not retried), and the subject is one line of printable text (``subject``).
"""
from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws_clients
from chalicelib.delivery.channels.text import (
    CallReport,
    build_report,
    call_title,
    clip,
    escape_html,
    html_fragment,
    one_line,
    plain_text,
    printable_line,
)
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest, SendQuota

# SES error codes worth another try later; anything else a 4xx names is a configuration problem.
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceeded", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError", "RequestTimeout",
    "RequestTimeoutException",
})
SUBJECT_LIMIT = 200
SUBJECT_AGENT_LIMIT = 60  # characters of the (tenant-chosen) agent name in a subject
MAX_RECIPIENTS = 10  # per email action
CHARSET = "UTF-8"


class EmailChannel:
    """``quota``: the per-account allowance of emails (the worker's comes from ``rate_limits``); None: none."""

    def __init__(self, ses_client: Any = None, quota: SendQuota | None = None) -> None:
        self._ses = ses_client
        self._quota = quota

    def send(self, request: DeliveryRequest) -> AttemptResult:
        if not request.settings.ses_sender:
            return AttemptResult(ok=False, retryable=False, error="email deliveries are not configured on this "
                                 "deployment (stack setting sesSender)")
        recipients = [str(r) for r in request.config.get("recipients") or []]
        if not recipients:
            return AttemptResult(ok=False, error="no recipients configured", retryable=False)
        if len(recipients) > MAX_RECIPIENTS:
            return AttemptResult(ok=False, retryable=False, error=f"the action has {len(recipients)} recipients, "
                                 f"more than the {MAX_RECIPIENTS} allowed: update its recipients")
        if self._quota is not None and request.account_id is not None:
            refusal = self._quota.take(request.account_id)
            if refusal is not None:
                return AttemptResult(ok=False, retryable=False, error=refusal)
        report = build_report(request.event, request.config, is_test=request.is_test)
        started = time.perf_counter()
        try:
            answer = self._client().send_email(
                Source=request.settings.ses_sender,
                Destination={"ToAddresses": recipients},
                Message=message(report),
            )
        except ClientError as exc:
            return _client_error(exc, _ms(started))
        except BotoCoreError as exc:  # endpoint unreachable, read timeout, ...
            return AttemptResult(ok=False, latency_ms=_ms(started), error=f"ses: {type(exc).__name__}")
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
        return AttemptResult(ok=True, status_code=status, latency_ms=_ms(started),
                             detail={"message_id": answer.get("MessageId"), "recipients": len(recipients)})

    def _client(self) -> Any:
        if self._ses is None:
            self._ses = aws_clients.client("ses")
        return self._ses


def message(report: CallReport) -> dict[str, Any]:
    """The SES ``Message``: subject, text part, HTML part."""
    return {
        "Subject": {"Data": subject(report), "Charset": CHARSET},
        "Body": {
            "Text": {"Data": plain_text(report), "Charset": CHARSET},
            "Html": {"Data": html_document(report), "Charset": CHARSET},
        },
    }


def subject(report: CallReport) -> str:
    """The report's title as one line of printable text (no CR/LF, control or bidi-override characters)
    with the agent name cut to ``SUBJECT_AGENT_LIMIT`` characters, at most ``SUBJECT_LIMIT`` in all: the
    platform's sender never carries a tenant's long text in a subject."""
    agent = clip(printable_line(report.agent_name), SUBJECT_AGENT_LIMIT)
    return clip(call_title(report.to_number, report.status, agent, is_test=report.is_test), SUBJECT_LIMIT)


def html_document(report: CallReport) -> str:
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>{escape_html(report.title)}</title></head>"
            "<body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.5;color:#222\">"
            f"{html_fragment(report)}"
            "<hr><p style=\"color:#888;font-size:12px\">Sent by Parley for a post-call action.</p>"
            "</body></html>")


def _client_error(exc: ClientError, latency_ms: float) -> AttemptResult:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "ClientError")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    retryable = code in RETRYABLE_CODES or (isinstance(status, int) and (status >= 500 or status == 429))
    detail = {"message": clip(one_line(str(error.get("Message") or "")), 300)} if error.get("Message") else {}
    return AttemptResult(ok=False, status_code=status, latency_ms=latency_ms, error=code, retryable=retryable,
                         detail=detail)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
