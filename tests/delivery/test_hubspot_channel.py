"""HubSpot channel against a local CRM API: Bearer token, contact search, call engagement + association."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.delivery.channels.hubspot import HubSpotChannel, contact_search
from tests.delivery.provider_servers import (
    FakeHubSpot,
    delivery_request,
    json_answer,
    local_settings,
    real_call_event,
)


@pytest.fixture()
def hub() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        yield server


def send(hub: FakeHubSpot, **kw):
    credentials = kw.pop("credentials", {"access_token": hub.token})
    return HubSpotChannel().send(delivery_request("hubspot", credentials=credentials,
                                                  settings=local_settings(hubspot_api_url=hub.url), **kw))


def test_logs_the_call_on_the_matching_contact(hub: FakeHubSpot) -> None:
    hub.add_contact(phone="+15550109999")
    contact = hub.add_contact(phone="+15550100001")
    event = real_call_event()
    result = send(hub, event=event)
    assert result.ok and result.status_code == 201 and result.error is None
    assert hub.problems == []
    [(call_id, call)] = hub.calls.items()
    assert result.detail == {"call_id": call_id, "contact_id": contact}
    assert call["associations"] == [{"to": {"id": contact}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}]
    props = call["properties"]
    assert props["hs_call_title"] == "Call with +15550100001 completed — Front desk"
    assert (props["hs_call_status"], props["hs_call_direction"]) == ("COMPLETED", "OUTBOUND")
    assert props["hs_call_duration"] == "42000"
    assert (props["hs_call_to_number"], props["hs_call_from_number"]) == ("+15550100001", "+15550100000")
    assert props["hs_call_recording_url"] == event["recording_url"]
    assert props["hs_timestamp"].endswith("Z") and props["hs_timestamp"][:19] == event["started_at"][:19]
    assert "<h3>Summary</h3><p>The caller booked a table for Friday at seven.</p>" in props["hs_call_body"]
    assert "<p><strong>User:</strong> No, thanks. Bye!</p>" in props["hs_call_body"]
    search = hub.requests[0]
    assert search.path == "/crm/v3/objects/contacts/search"
    assert search.json["filterGroups"] == [
        {"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+15550100001"}]},
        {"filters": [{"propertyName": "mobilephone", "operator": "EQ", "value": "+15550100001"}]}]
    assert all(r.headers["authorization"] == f"Bearer {hub.token}" for r in hub.requests)


def test_matches_the_mobile_number_too(hub: FakeHubSpot) -> None:
    contact = hub.add_contact(mobilephone="+15550100001")
    result = send(hub)
    assert result.ok and result.detail["contact_id"] == contact


def test_without_a_contact_the_call_is_logged_unassociated(hub: FakeHubSpot) -> None:
    result = send(hub)
    assert result.ok and hub.problems == []
    [call] = hub.calls.values()
    assert call["associations"] == [] and result.detail["note"] == "no contact matched"


def test_call_values_are_html_escaped_and_status_mapped(hub: FakeHubSpot) -> None:
    event = real_call_event(status="no_answer", duration_s=None, recording_url=None, transcript=[],
                            full_conversation="", summary="<script>alert(1)</script> & co")
    assert send(hub, event=event).ok and hub.problems == []
    props = next(iter(hub.calls.values()))["properties"]
    assert props["hs_call_status"] == "NO_ANSWER"
    assert "hs_call_duration" not in props and "hs_call_recording_url" not in props
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in props["hs_call_body"]
    assert "<script>" not in props["hs_call_body"]
    assert props["hs_call_title"] == "Call with +15550100001 was not answered — Front desk"


def test_bad_tokens_and_missing_scopes_are_not_retried(hub: FakeHubSpot) -> None:
    result = send(hub, credentials={"access_token": "pat-na1-revoked"})
    assert not result.ok and not result.retryable and result.status_code == 401
    assert result.error.startswith("hubspot contact search: 401 INVALID_AUTHENTICATION")
    assert "revoked" not in str(result)
    hub.script(json_answer(403, {"status": "error", "category": "MISSING_SCOPES",
                                 "message": "This app hasn't been granted all required scopes"}), "/calls")
    missing = send(hub)
    assert not missing.retryable and missing.error.startswith("hubspot create call: 403 MISSING_SCOPES")
    assert hub.calls == {}


def test_rate_limits_and_server_errors_are_retried(hub: FakeHubSpot) -> None:
    hub.script(json_answer(429, {"status": "error", "category": "RATE_LIMITS", "message": "secondly limit"},
                           {"Retry-After": "1"}), "/contacts/search")
    limited = send(hub)
    assert not limited.ok and limited.retryable and limited.detail == {"retry_after_s": 1.0}
    hub.script(json_answer(502, {"status": "error", "message": "Bad gateway"}), "/objects/calls")
    down = send(hub)
    assert down.retryable and down.error == "hubspot create call: 502 Bad gateway"
    assert hub.calls == {}


def test_validation_errors_are_not_retried(hub: FakeHubSpot) -> None:
    hub.script(json_answer(400, {"status": "error", "category": "VALIDATION_ERROR",
                                 "message": "Property values were not valid"}), "/objects/calls")
    result = send(hub)
    assert not result.retryable and result.error == (
        "hubspot create call: 400 VALIDATION_ERROR: Property values were not valid")


def test_a_retry_does_not_log_the_call_twice(hub: FakeHubSpot) -> None:
    first = send(hub, attempt=1)
    again = send(hub, attempt=2)
    assert first.ok and again.ok and hub.problems == []
    assert len(hub.calls) == 1 and again.detail == {"call_id": first.detail["call_id"], "already_created": True}
    other_call = send(hub, attempt=2, event=real_call_event(started_at="2024-05-01T10:00:00+00:00"))
    assert other_call.ok and len(hub.calls) == 2


def test_the_search_asks_for_little() -> None:
    body = contact_search("+15550100001")
    assert body["limit"] == 1 and body["properties"] == ["phone", "mobilephone"]
