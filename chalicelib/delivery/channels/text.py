"""Shared by the email, Slack, Salesforce, HubSpot and WhatsApp channels.

Rendering: ``build_report`` reads a ``call.completed`` detail (honouring the action's ``include`` list) into a
``CallReport``; ``plain_text`` / ``html_fragment`` render it, shortening the transcript first when a channel
has a size limit.

HTTP plumbing: ``Exchange`` runs the HTTP calls of one attempt over ``SafeHttp``, adds up their latency and
turns a refused target or a transport failure into an ``AttemptResult`` (raised as ``Stop``), so a
channel's happy path reads straight through.
"""
from __future__ import annotations

import html
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import HttpFailure, Refused, SafeHttp

INCLUDE_ALL: tuple[str, ...] = ("summary", "extracted_variables", "fullConversation", "sentiment", "recording_url")
ROLE_LABELS: dict[str, str] = {"agent": "Agent", "user": "User"}
STATUS_LABELS: dict[str, str] = {"completed": "completed", "failed": "failed", "busy": "busy",
                                 "no_answer": "not answered"}
TITLE_PHRASES: dict[str, str] = {"completed": "completed", "failed": "failed", "busy": "was busy",
                                 "no_answer": "was not answered"}
SHORTENED = "… (transcript shortened)"
ELLIPSIS = "…"


# ----------------------------------------------------------------------------------------------- rendering
@dataclass(frozen=True)
class CallReport:
    """What a person reads about one call; optional parts are None / empty when excluded or absent."""

    title: str  # "Call with +15550100001 completed — Sample agent" ("[Test] " first for a test event)
    agent_name: str
    status: str  # completed | failed | busy | no_answer (as in the event)
    status_label: str
    to_number: str
    from_number: str
    duration_s: float | None
    duration: str | None  # "42s", "3m 05s", "1h 02m 03s"
    ended_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    summary: str | None
    sentiment: str | None
    variables: tuple[tuple[str, str], ...]
    recording_url: str | None
    recording_expires_at: str | None
    transcript: tuple[tuple[str, str], ...]  # (speaker, text)
    transcript_truncated: bool
    is_test: bool
    call_id: Any = None

    def facts(self) -> list[tuple[str, str]]:
        """Label/value pairs for a status line or a table (always present, whatever ``include`` says)."""
        pairs = [("Status", self.status_label)]
        if self.duration:
            pairs.append(("Duration", self.duration))
        if self.sentiment:
            pairs.append(("Sentiment", self.sentiment))
        pairs += [("To", self.to_number or "unknown"), ("From", self.from_number or "unknown")]
        if self.ended_by:
            pairs.append(("Ended by", self.ended_by))
        return pairs


def included(config: Mapping[str, Any], item: str) -> bool:
    """Whether the action's ``include`` list asks for ``item`` (no or an empty list: everything, as webhooks)."""
    return item in (config.get("include") or INCLUDE_ALL)


def build_report(event: Mapping[str, Any], config: Mapping[str, Any], *, is_test: bool = False) -> CallReport:
    status = str(event.get("status") or "completed")
    agent = str((event.get("agent") or {}).get("name") or "agent")
    to_number = str(event.get("to_number") or "")
    test = bool(is_test or event.get("test"))
    duration_s = _number(event.get("duration_s"))
    recording = event.get("recording_url") if included(config, "recording_url") else None
    return CallReport(
        title=call_title(to_number, status, agent, is_test=test),
        agent_name=agent,
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        to_number=to_number,
        from_number=str(event.get("from_number") or ""),
        duration_s=duration_s,
        duration=format_duration(duration_s),
        ended_by=_text_or_none(event.get("ended_by")),
        started_at=parse_time(event.get("started_at")),
        ended_at=parse_time(event.get("ended_at")) or parse_time(event.get("occurred_at")),
        summary=_text_or_none(event.get("summary")) if included(config, "summary") else None,
        sentiment=_text_or_none(event.get("sentiment")) if included(config, "sentiment") else None,
        variables=variables(event) if included(config, "extracted_variables") else (),
        recording_url=recording if is_web_url(recording) else None,
        recording_expires_at=format_time(event.get("recording_url_expires_at")) if recording else None,
        transcript=transcript(event) if included(config, "fullConversation") else (),
        transcript_truncated=bool(event.get("transcript_truncated")),
        is_test=test,
        call_id=event.get("call_id"),
    )


def call_title(to_number: str, status: str, agent_name: str, *, is_test: bool) -> str:
    """``[Test] Call with +15550100001 completed — Front desk``, as one line of printable text."""
    title = f"Call with {to_number or 'unknown number'} {TITLE_PHRASES.get(status, status)} — {agent_name}"
    return printable_line(("[Test] " if is_test else "") + title)


def format_duration(seconds: float | None) -> str | None:
    if seconds is None or seconds < 0:
        return None
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_time(value: Any) -> str | None:
    """``2026-12-02 18:20 UTC`` for an ISO timestamp (as given when it does not parse)."""
    when = parse_time(value)
    if when is None:
        return _text_or_none(value)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def transcript(event: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(speaker, text) turns from ``transcript``; from ``full_conversation`` lines when there is none."""
    turns = event.get("transcript") or []
    if turns:
        return tuple((speaker_label(t.get("role")), str(t.get("text") or "")) for t in turns if isinstance(t, Mapping))
    lines = str(event.get("full_conversation") or "").splitlines()
    return tuple(_split_line(line) for line in lines if line.strip())


def speaker_label(role: Any) -> str:
    role = str(role or "").strip()
    return ROLE_LABELS.get(role.lower(), role.capitalize() or "Unknown")


def variables(event: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = event.get("extracted_variables") or {}
    if not isinstance(found, Mapping):
        return ()
    return tuple((str(key), value_text(value)) for key, value in found.items())


def value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def plain_text(report: CallReport, limit: int | None = None, *, with_title: bool = True) -> str:
    """The report as plain text; over ``limit`` the transcript is shortened first, then the rest clipped."""
    head: list[str] = [report.title, ""] if with_title else []
    head.append(" · ".join(f"{label}: {value}" for label, value in report.facts()))
    if report.summary:
        head += ["", "Summary", report.summary]
    if report.variables:
        head += ["", "Extracted variables"] + [f"- {key}: {value}" for key, value in report.variables]
    if report.recording_url:
        until = f" (link valid until {report.recording_expires_at})" if report.recording_expires_at else ""
        head += ["", f"Recording{until}: {report.recording_url}"]
    lines = [f"{speaker}: {text}" for speaker, text in report.transcript]
    if lines:
        head += ["", "Transcript" + (" (truncated)" if report.transcript_truncated else "")]
    return fit("\n".join(head), lines, "\n", limit, SHORTENED)


def html_fragment(report: CallReport, limit: int | None = None) -> str:
    """The report as HTML (every value escaped); over ``limit`` the transcript is shortened first."""
    e = escape_html
    parts = [f"<h2>{e(report.title)}</h2>",
             "<p>" + " &middot; ".join(f"<strong>{e(k)}:</strong> {e(v)}" for k, v in report.facts()) + "</p>"]
    if report.summary:
        parts.append(f"<h3>Summary</h3><p>{e(report.summary).replace(chr(10), '<br>')}</p>")
    if report.variables:
        rows = "".join(f"<tr><th align=\"left\">{e(k)}</th><td>{e(v)}</td></tr>" for k, v in report.variables)
        parts.append(f"<h3>Extracted variables</h3><table>{rows}</table>")
    if report.recording_url:
        until = f" (link valid until {e(report.recording_expires_at)})" if report.recording_expires_at else ""
        parts.append(f"<p><a href=\"{e(report.recording_url)}\">Listen to the recording</a>{until}</p>")
    lines = [f"<p><strong>{e(speaker)}:</strong> {e(text)}</p>" for speaker, text in report.transcript]
    if lines:
        parts.append("<h3>Transcript" + (" (truncated)" if report.transcript_truncated else "") + "</h3>")
    return fit("".join(parts), lines, "", limit, f"<p>{e(SHORTENED)}</p>", clip_head=False)


def fit(head: str, lines: Sequence[str], sep: str, limit: int | None, marker: str, *, clip_head: bool = True) -> str:
    """``head`` then as many whole ``lines`` as fit in ``limit`` (``marker`` noting the cut)."""
    full = sep.join([head, *lines]) if lines else head
    if limit is None or len(full) <= limit:
        return full
    budget = limit - len(sep) - len(marker)
    out = head
    for line in lines:
        if len(out) + len(sep) + len(line) > budget:
            break
        out += sep + line
    if len(out) + len(sep) + len(marker) <= limit:
        return out + sep + marker
    # The head alone is too long: plain text can be cut anywhere; markup is not cut (the caller's limit
    # is generous for it) -- it then goes out without the transcript.
    return clip(head, limit) if clip_head else head


def clip(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker


def one_line(text: str) -> str:
    """Whitespace (incl. newlines, which would break a mail header) collapsed to single spaces."""
    return " ".join(text.split())


_ZERO_WIDTH_JOINER = "\u200d"  # kept: it joins emoji sequences


def printable_line(text: str) -> str:
    """``text`` as one line of visible characters: control and format characters (NUL, ESC, DEL, bidi
    overrides, zero-width spaces...), line and paragraph separators become spaces, then ``one_line``."""
    return one_line("".join(
        " " if unicodedata.category(ch)[0] in "CZ" and ch != _ZERO_WIDTH_JOINER else ch
        for ch in text))


def escape_html(value: Any) -> str:
    return html.escape(str(value), quote=True)


def is_web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _split_line(line: str) -> tuple[str, str]:
    speaker, sep, text = line.partition(": ")
    if sep and 0 < len(speaker) <= 20:
        return speaker, text
    return "", line


# ----------------------------------------------------------------------------------------------- HTTP
class Stop(Exception):
    """Ends an attempt early with ``result`` (raised by ``Exchange`` and by channels)."""

    def __init__(self, result: AttemptResult) -> None:
        super().__init__(result.error)
        self.result = result


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: Mapping[str, str]
    text: str  # the body decoded (never logged, never recorded whole)
    data: Any  # the body as JSON, None when it is not JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((str(v) for k, v in self.headers.items() if k.lower() == name), None)

    def retry_after_s(self) -> float | None:
        value = self.header("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def http_for(request: DeliveryRequest, http: SafeHttp | None) -> SafeHttp:
    """The injected client, or one built from the request's settings (SSRF rules, timeout)."""
    if http is not None:
        return http
    settings = request.settings
    return SafeHttp(allowed_networks=tuple(settings.allowed_networks), timeout_s=settings.timeout_s)


@dataclass
class Exchange:
    """The HTTP calls of one attempt: summed latency, last status, failures raised as ``Stop``."""

    http: SafeHttp
    latency_ms: float = 0.0
    status_code: int | None = None
    calls: int = 0

    def call(self, method: str, url: str, *, json_body: Any = None, form: Mapping[str, str] | None = None,
             body: bytes | None = None, headers: Mapping[str, str] | None = None) -> Reply:
        sent_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            sent_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif form is not None:
            body = urlencode(form).encode()
            sent_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        sent_headers.setdefault("Accept", "application/json")
        try:
            response = self.http.request(method, url, body=body, headers=sent_headers)
        except Refused as exc:
            raise Stop(self.result(False, error=scrub(str(exc), url), retryable=False, refused=True)) from exc
        except HttpFailure as exc:
            raise Stop(self.result(False, error=scrub(str(exc), url) or "connection failed")) from exc
        self.calls += 1
        self.latency_ms += float(response.latency_ms or 0.0)
        self.status_code = response.status_code
        return _reply(response)

    def result(self, ok: bool, *, error: str | None = None, retryable: bool = True, gone: bool = False,
               refused: bool = False, detail: dict[str, Any] | None = None) -> AttemptResult:
        return AttemptResult(ok=ok, status_code=self.status_code, latency_ms=round(self.latency_ms, 1),
                             error=None if ok else clip(error or "failed", 300), retryable=retryable and not ok,
                             gone=gone, refused=refused, detail=detail or {})

    def fail(self, error: str, *, retryable: bool, gone: bool = False, detail: dict[str, Any] | None = None) -> Stop:
        return Stop(self.result(False, error=error, retryable=retryable, gone=gone, detail=detail))


def _reply(response: Any) -> Reply:
    raw = response.body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    return Reply(status_code=int(response.status_code), headers=dict(response.headers or {}), text=text, data=data)


def scrub(message: str, url: str) -> str:
    """``message`` without ``url``'s path and query (a Slack webhook path is a secret)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.path):
        if secret and secret != "/":
            message = message.replace(secret, origin if secret == url else "/…")
    return message


def short_code(text: str, limit: int = 80) -> str:
    """A provider's short error text (e.g. Slack's ``invalid_payload``) fit for an error field."""
    return clip(one_line(text), limit) if text else ""
