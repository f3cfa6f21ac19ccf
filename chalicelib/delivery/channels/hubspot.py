"""HubSpot channel: the call logged as a call engagement, associated with the callee's contact.

With a private app token (``Authorization: Bearer``), against ``settings.hubspot_api_url``:
1. on a retry only: a call this delivery already created (same title and timestamp) ends the attempt as a
   success, so a lost answer does not log the call twice (``POST /crm/v3/objects/calls/search``);
2. the contact: ``POST /crm/v3/objects/contacts/search``, ``phone`` or ``mobilephone`` equal to the number;
3. ``POST /crm/v3/objects/calls`` with the properties and, when a contact matched, an association to it
   (HUBSPOT_DEFINED type 194, call to contact); without one the call is still logged (detail says so).

401/403 are not retried (token revoked or missing scopes); 429 and 5xx are.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.delivery.channels.text import (
    CallReport,
    Exchange,
    Reply,
    Stop,
    build_report,
    html_fragment,
    http_for,
    short_code,
)
from chalicelib.delivery.contract import AttemptResult, DeliveryRequest
from chalicelib.delivery.safe_http import SafeHttp

CALL_TO_CONTACT = 194  # HUBSPOT_DEFINED association type: call -> contact
BODY_LIMIT = 65000
CALL_STATUSES = {"completed": "COMPLETED", "failed": "FAILED", "busy": "BUSY", "no_answer": "NO_ANSWER"}


class HubSpotChannel:
    def __init__(self, http: SafeHttp | None = None) -> None:
        self._http = http

    def send(self, request: DeliveryRequest) -> AttemptResult:
        token = request.credentials.get("access_token")
        if not token:
            return AttemptResult(ok=False, error="credentials.access_token is missing", retryable=False)
        api = _Api(Exchange(http_for(request, self._http)), request.settings.hubspot_api_url, str(token))
        try:
            return _deliver(api, request)
        except Stop as stop:
            return stop.result


class _Api:
    def __init__(self, exchange: Exchange, base: str, token: str) -> None:
        self.exchange = exchange
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any], step: str) -> Reply:
        reply = self.exchange.call("POST", self.base + path, json_body=body, headers=self.headers)
        if reply.ok:
            return reply
        category = _category(reply)
        error = f"hubspot {step}: {reply.status_code}" + (f" {category}" if category else "")
        retryable = reply.status_code >= 500 or reply.status_code == 429
        retry_after = reply.retry_after_s() if retryable else None
        raise self.exchange.fail(error, retryable=retryable,
                                 detail={"retry_after_s": retry_after} if retry_after else None)

    def first_id(self, path: str, body: dict[str, Any], step: str) -> str | None:
        data = self.post(path, body, step).data
        results = data.get("results") if isinstance(data, dict) else None
        return str(results[0]["id"]) if results else None


def _deliver(api: _Api, request: DeliveryRequest) -> AttemptResult:
    report = build_report(request.event, request.config, is_test=request.is_test)
    properties = call_properties(report)
    if request.attempt > 1:
        existing = api.first_id("/crm/v3/objects/calls/search", same_call_search(properties), "call search")
        if existing:
            return api.exchange.result(True, detail={"call_id": existing, "already_created": True})
    contact = None
    if report.to_number:
        contact = api.first_id("/crm/v3/objects/contacts/search", contact_search(report.to_number), "contact search")
    body: dict[str, Any] = {"properties": properties}
    if contact:
        body["associations"] = [{"to": {"id": contact}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT}]}]
    data = api.post("/crm/v3/objects/calls", body, "create call").data
    detail: dict[str, Any] = {"call_id": str(data.get("id")) if isinstance(data, dict) and data.get("id") else None}
    if contact:
        detail["contact_id"] = contact
    else:
        detail["note"] = "no contact matched"
    return api.exchange.result(True, detail=detail)


def call_properties(report: CallReport) -> dict[str, str]:
    """Call engagement properties (HubSpot takes every value as a string)."""
    when = report.started_at or report.ended_at or datetime.now(UTC)
    properties = {
        "hs_timestamp": _iso_ms(when),
        "hs_call_title": report.title,
        "hs_call_body": html_fragment(report, BODY_LIMIT),
        "hs_call_status": CALL_STATUSES.get(report.status, "COMPLETED"),
        "hs_call_direction": "OUTBOUND",
        "hs_call_to_number": report.to_number,
        "hs_call_from_number": report.from_number,
    }
    if report.duration_s is not None:
        properties["hs_call_duration"] = str(round(report.duration_s * 1000))
    if report.recording_url:
        properties["hs_call_recording_url"] = report.recording_url
    return properties


def contact_search(phone: str) -> dict[str, Any]:
    groups = [{"filters": [{"propertyName": name, "operator": "EQ", "value": phone}]}
              for name in ("phone", "mobilephone")]
    return {"filterGroups": groups, "properties": ["phone", "mobilephone"], "limit": 1,
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}


def same_call_search(properties: dict[str, str]) -> dict[str, Any]:
    when = datetime.fromisoformat(properties["hs_timestamp"])
    filters = [{"propertyName": "hs_timestamp", "operator": "EQ", "value": str(int(when.timestamp() * 1000))},
               {"propertyName": "hs_call_title", "operator": "EQ", "value": properties["hs_call_title"]}]
    return {"filterGroups": [{"filters": filters}], "properties": ["hs_call_title"], "limit": 1}


def _iso_ms(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _category(reply: Reply) -> str:
    """HubSpot's error ``category`` and message (e.g. ``VALIDATION_ERROR: Property values were not valid``)."""
    data = reply.data if isinstance(reply.data, dict) else {}
    category = str(data.get("category") or data.get("errorType") or "")
    message = str(data.get("message") or "")
    return short_code(f"{category}: {message}" if category and message else category or message, 160)
