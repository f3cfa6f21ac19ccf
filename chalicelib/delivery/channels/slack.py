"""Slack channel: a Block Kit message posted to the action's incoming-webhook ``url``.

Slack answers ``200 ok``, or a status with a short code in the body (``invalid_payload``, ``no_service``,
``channel_is_archived``...). Codes meaning the webhook is dead (removed app, deleted or archived channel,
revoked token) and any 410 mark the delivery ``gone``; 429 and 5xx are retried; other 4xx are not.
"""
from __future__ import annotations

from typing import Any

from chalicelib.delivery.channels.text import (
    SHORTENED,
    CallReport,
    Exchange,
    Stop,
    build_report,
    clip,
    http_for,
    short_code,
)
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import SafeHttp

# Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
BUTTON_TEXT_LIMIT = 75
URL_LIMIT = 3000
FALLBACK_LIMIT = 3000
GONE_CODES = frozenset({"no_service", "no_service_id", "no_team", "team_disabled", "invalid_token",
                        "channel_not_found", "channel_is_archived"})


class SlackChannel:
    def __init__(self, http: SafeHttp | None = None) -> None:
        self._http = http

    def send(self, request: DeliveryRequest) -> AttemptResult:
        url = str(request.config.get("url") or "")
        if not url:
            return AttemptResult(ok=False, error="no url configured", retryable=False)
        exchange = Exchange(http_for(request, self._http))
        try:
            reply = exchange.call("POST", url, json_body=message(build_report(request.event, request.config,
                                                                              is_test=request.is_test)))
        except Stop as stop:
            return stop.result
        if reply.ok:
            return exchange.result(True)
        code = short_code(reply.text) or "no body"
        error = f"slack {reply.status_code}: {code}"
        if reply.status_code == 410 or code in GONE_CODES:
            return exchange.result(False, error=error, retryable=False, gone=True)
        if reply.status_code == 429 or reply.status_code >= 500:
            retry_after = reply.retry_after_s()
            return exchange.result(False, error=error, detail={"retry_after_s": retry_after} if retry_after else None)
        return exchange.result(False, error=error, retryable=False)


def message(report: CallReport) -> dict[str, Any]:
    """The webhook body: ``text`` (notification fallback) and ``blocks``."""
    fallback = report.title + (f"\n{report.summary}" if report.summary else "")
    return {"text": mrkdwn_clip(fallback, FALLBACK_LIMIT), "blocks": blocks(report)[:MAX_BLOCKS]}


def blocks(report: CallReport) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(report.title, HEADER_LIMIT), "emoji": True}},
        {"type": "section", "fields": [mrkdwn(f"*{escape(label)}*\n{escape(value)}", FIELD_LIMIT)
                                       for label, value in report.facts()[:MAX_FIELDS]]},
    ]
    if report.summary:
        out.append(section("*Summary*\n" + mrkdwn_clip(report.summary, SECTION_LIMIT - len("*Summary*\n"))))
    if report.variables:
        lines = [f"• *{escape(key)}*: {escape(value)}" for key, value in report.variables]
        out.append(section(fit_lines("*Extracted variables*", lines, SECTION_LIMIT, "…")))
    if report.transcript:
        lines = [f"*{escape(speaker)}:* {escape(text)}" if speaker else escape(text)
                 for speaker, text in report.transcript]
        heading = "*Transcript*" + (" _(truncated)_" if report.transcript_truncated else "")
        out.append(section(fit_lines(heading, lines, SECTION_LIMIT, SHORTENED)))
    if report.recording_url and len(report.recording_url) <= URL_LIMIT:
        out.append({"type": "actions", "elements": [{
            "type": "button", "action_id": "parley_recording", "url": report.recording_url,
            "text": {"type": "plain_text", "text": clip("Listen to the recording", BUTTON_TEXT_LIMIT)},
        }]})
    out.append({"type": "context", "elements": [mrkdwn(escape(footer(report)), SECTION_LIMIT)]})
    return out


def footer(report: CallReport) -> str:
    parts = ["Parley", f"agent {report.agent_name}"]
    if report.call_id is not None:
        parts.append(f"call {report.call_id}")
    if report.recording_url and report.recording_expires_at:
        parts.append(f"recording link valid until {report.recording_expires_at}")
    return " · ".join(parts)


def escape(text: str) -> str:
    """Slack's escaping for text it parses: only &, < and > (so no <!channel> or link can be injected)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_clip(text: str, limit: int) -> str:
    """``text`` escaped and, if needed, cut to ``limit``."""
    return cut_escaped(escape(text), limit)


def cut_escaped(escaped: str, limit: int, marker: str = "…") -> str:
    """Escaped text cut to ``limit`` (``marker`` included) without splitting an ``&amp;``-like entity."""
    if len(escaped) <= limit:
        return escaped
    kept = escaped[: max(0, limit - len(marker))]
    amp = kept.rfind("&")
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept + marker


def fit_lines(heading: str, lines: list[str], limit: int, marker: str) -> str:
    """``heading`` then (already escaped) lines while they fit ``limit``; the first that does not is cut,
    and ``marker`` notes the cut."""
    out = heading
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if len(out) + 1 + len(line) + (0 if last else 1 + len(marker)) <= limit:
            out += "\n" + line
            continue
        room = limit - len(out) - 1 - 1 - len(marker)
        if room >= 40:
            out += "\n" + cut_escaped(line, room, "…")
        return out + "\n" + marker if len(out) + 1 + len(marker) <= limit else cut_escaped(out, limit)
    return out


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text, SECTION_LIMIT)}


def mrkdwn(text: str, limit: int) -> dict[str, Any]:
    # verbatim: Slack does not turn bare names into mentions or links in call-provided text.
    return {"type": "mrkdwn", "text": cut_escaped(text, limit), "verbatim": True}
