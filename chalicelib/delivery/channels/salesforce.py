"""Salesforce channel: the call logged as a completed ``Task`` (subtype Call) on the callee's Contact or Lead.

One attempt:
1. token: OAuth 2.0 client credentials, ``POST {instance_url}/services/oauth2/token`` (form-encoded);
   the answer's ``instance_url`` is where the data calls go;
2. on a retry only: a Task this delivery already created (``CallObject`` = the delivery's id) ends the
   attempt as a success, so a lost answer does not log the call twice;
3. the callee: a Contact whose Phone or MobilePhone holds the number (E.164 and common spellings), else an
   unconverted Lead (SOQL via ``GET /services/data/v60.0/query``);
4. ``POST /services/data/v60.0/sobjects/Task`` -- without ``WhoId`` when nobody matched (detail says so).

Credentials rejected at the token step are not retried; 5xx, 429 and REQUEST_LIMIT_EXCEEDED are.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from chalicelib.delivery.channels.text import (
    CallReport,
    Exchange,
    Reply,
    Stop,
    build_report,
    clip,
    digits,
    http_for,
    plain_text,
    short_code,
)
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import SafeHttp

API_VERSION = "v60.0"
DESCRIPTION_LIMIT = 32000
SUBJECT_LIMIT = 255
CALL_OBJECT_LIMIT = 255
RETRYABLE_ERROR_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})


class SalesforceChannel:
    def __init__(self, http: SafeHttp | None = None) -> None:
        self._http = http

    def send(self, request: DeliveryRequest) -> AttemptResult:
        credentials = request.credentials
        missing = [k for k in ("instance_url", "client_id", "client_secret") if not credentials.get(k)]
        if missing:
            return AttemptResult(ok=False, error=f"credentials.{missing[0]} is missing", retryable=False)
        exchange = Exchange(http_for(request, self._http))
        try:
            return _deliver(exchange, request)
        except Stop as stop:
            return stop.result


def _deliver(exchange: Exchange, request: DeliveryRequest) -> AttemptResult:
    session = _Session(exchange, *_token(exchange, request.credentials))
    call_object = clip(request.webhook_id, CALL_OBJECT_LIMIT, "")
    if request.attempt > 1:
        existing = session.first_id(f"SELECT Id FROM Task WHERE CallObject = {soql_literal(call_object)} LIMIT 1")
        if existing:
            return exchange.result(True, detail={"task_id": existing, "already_created": True})
    report = build_report(request.event, request.config, is_test=request.is_test)
    who, who_type = session.find_person(report.to_number)
    task = task_fields(report, who, call_object)
    reply = session.call("POST", "/sobjects/Task", "create task", json_body=task)
    detail: dict[str, Any] = {"task_id": (reply.data or {}).get("id") if isinstance(reply.data, dict) else None}
    if who:
        detail.update(who_id=who, who_type=who_type)
    else:
        detail["note"] = "no contact or lead matched"
    return exchange.result(True, detail=detail)


def _token(exchange: Exchange, credentials: dict[str, Any]) -> tuple[str, str]:
    """(access token, instance URL for data calls)."""
    base = instance_base(str(credentials["instance_url"]))
    reply = exchange.call("POST", f"{base}/services/oauth2/token", form={
        "grant_type": "client_credentials",
        "client_id": str(credentials["client_id"]),
        "client_secret": str(credentials["client_secret"]),
    })
    if reply.status_code in (400, 401, 403):
        code = _oauth_error(reply)
        raise exchange.fail(f"salesforce token: credentials rejected ({code})", retryable=False)
    if not reply.ok:
        raise exchange.fail(f"salesforce token: {reply.status_code}", retryable=_retryable_status(reply.status_code))
    data = reply.data if isinstance(reply.data, dict) else {}
    token = data.get("access_token")
    if not token:
        raise exchange.fail("salesforce token: no access_token in the answer", retryable=True)
    instance = data.get("instance_url")
    return str(token), instance_base(str(instance)) if instance else base


class _Session:
    """Data API calls with the token."""

    def __init__(self, exchange: Exchange, token: str, instance: str) -> None:
        self.exchange = exchange
        self.headers = {"Authorization": f"Bearer {token}"}
        self.api = f"{instance}/services/data/{API_VERSION}"

    def call(self, method: str, path: str, step: str, json_body: Any = None) -> Reply:
        reply = self.exchange.call(method, self.api + path, json_body=json_body, headers=self.headers)
        if reply.ok:
            return reply
        code = _api_error_code(reply)
        error = f"salesforce {step}: {reply.status_code}" + (f" {code}" if code else "")
        retryable = (_retryable_status(reply.status_code) or reply.status_code == 401  # a new token next time
                     or code.split(":")[0] in RETRYABLE_ERROR_CODES)
        raise self.exchange.fail(error, retryable=retryable)

    def first_id(self, soql: str) -> str | None:
        reply = self.call("GET", "/query?q=" + quote(soql, safe=""), "query")
        records = (reply.data or {}).get("records") if isinstance(reply.data, dict) else None
        return str(records[0]["Id"]) if records else None

    def find_person(self, phone: str) -> tuple[str | None, str | None]:
        if not digits(phone):
            return None, None
        numbers = ", ".join(soql_literal(v) for v in phone_variants(phone))
        match = f"(Phone IN ({numbers}) OR MobilePhone IN ({numbers}))"
        contact = self.first_id(f"SELECT Id FROM Contact WHERE {match} ORDER BY LastModifiedDate DESC LIMIT 1")
        if contact:
            return contact, "Contact"
        lead = self.first_id(
            f"SELECT Id FROM Lead WHERE IsConverted = false AND {match} ORDER BY LastModifiedDate DESC LIMIT 1")
        return (lead, "Lead") if lead else (None, None)


def task_fields(report: CallReport, who_id: str | None, call_object: str) -> dict[str, Any]:
    when = report.started_at or report.ended_at
    fields: dict[str, Any] = {
        "Subject": clip(f"{'[Test] ' if report.is_test else ''}Call {report.status_label} — {report.agent_name}",
                        SUBJECT_LIMIT),
        "Description": plain_text(report, DESCRIPTION_LIMIT),
        "Status": "Completed",
        "Priority": "Normal",
        "TaskSubtype": "Call",
        "CallType": "Outbound",
        "CallDisposition": clip(report.status_label, 255),
        "CallObject": call_object,
    }
    if when is not None:
        fields["ActivityDate"] = when.date().isoformat()
    if report.duration_s is not None:
        fields["CallDurationInSeconds"] = round(report.duration_s)
    if who_id:
        fields["WhoId"] = who_id
    return fields


def phone_variants(phone: str) -> list[str]:
    """Spellings a CRM user may have typed for ``phone`` (E.164 first); NANP numbers get the US ones."""
    number = digits(phone)
    variants = [f"+{number}", number]
    if len(number) == 11 and number.startswith("1"):
        area, exchange, line = number[1:4], number[4:7], number[7:]
        variants += [number[1:], f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}",
                     f"{area}.{exchange}.{line}", f"+1 {area} {exchange} {line}", f"+1 ({area}) {exchange}-{line}",
                     f"1-{area}-{exchange}-{line}", f"+1-{area}-{exchange}-{line}"]
    return list(dict.fromkeys(variants))


def soql_literal(value: str) -> str:
    """A SOQL string literal: backslash and quotes escaped, control characters dropped."""
    escaped = []
    for ch in value:
        if ch in ("\\", "'", '"'):
            escaped.append("\\" + ch)
        elif ch == "\n":
            escaped.append("\\n")
        elif ch in ("\r", "\t") or ord(ch) < 32:
            continue
        else:
            escaped.append(ch)
    return "'" + "".join(escaped) + "'"


def instance_base(url: str) -> str:
    """``https://acme.my.salesforce.com`` from what the user typed (scheme added, path dropped)."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def _oauth_error(reply: Reply) -> str:
    data = reply.data if isinstance(reply.data, dict) else {}
    return str(data.get("error") or reply.status_code)


def _api_error_code(reply: Reply) -> str:
    """``CODE: message`` from Salesforce's ``[{"message", "errorCode", "fields"}]`` error body."""
    data = reply.data
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else data
    if not isinstance(first, dict):
        return ""
    code = str(first.get("errorCode") or first.get("error") or "")
    message = str(first.get("message") or first.get("error_description") or "")
    return short_code(f"{code}: {message}" if code and message else code or message, 160)
