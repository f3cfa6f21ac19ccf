"""Salesforce channel against a local org: client-credentials token, SOQL lookups, Task creation."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.delivery.channels.salesforce import (
    SalesforceChannel,
    instance_base,
    phone_variants,
    soql_literal,
)
from tests.delivery.provider_servers import (
    FakeSalesforce,
    delivery_request,
    json_answer,
    real_call_event,
)


@pytest.fixture()
def org() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        yield server


def send(org: FakeSalesforce, **kw):
    credentials = kw.pop("credentials", org.credentials())
    return SalesforceChannel().send(delivery_request("salesforce", credentials=credentials, **kw))


def test_logs_a_completed_call_task_on_the_matching_contact(org: FakeSalesforce) -> None:
    org.add_contact(phone="+1 212 555 0199")
    contact = org.add_contact(phone="(555) 010-0001")  # how a person typed it
    event = real_call_event()
    result = send(org, event=event)
    assert result.ok and result.status_code == 201 and result.error is None
    assert org.problems == []
    [(task_id, task)] = org.tasks.items()
    assert result.detail == {"task_id": task_id, "who_id": contact, "who_type": "Contact"}
    assert task["WhoId"] == contact
    assert task["Subject"] == "Call completed — Front desk"
    assert (task["Status"], task["TaskSubtype"], task["CallType"]) == ("Completed", "Call", "Outbound")
    assert task["CallDurationInSeconds"] == 42
    assert task["ActivityDate"] == event["started_at"][:10]
    assert task["CallObject"] == "msg_2Ttest0001"
    description = task["Description"]
    assert "The caller booked a table for Friday at seven." in description
    assert "Sentiment: positive" in description and "- date: Friday" in description
    assert "Agent: Hello, this is Sample agent. How can I help?\nUser: I'd like to book" in description
    token_call = org.requests[0]
    assert token_call.path == "/services/oauth2/token" and token_call.form["grant_type"] == ["client_credentials"]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in org.requests[1:])
    assert len(org.queries) == 1 and "Phone IN ('+15550100001'" in org.queries[0]


def test_falls_back_to_an_unconverted_lead_on_the_mobile_number(org: FakeSalesforce) -> None:
    org.add_lead(phone="+15550100001", converted=True)
    lead = org.add_lead(mobile="15550100001")
    result = send(org)
    assert result.ok and org.problems == []
    assert result.detail["who_id"] == lead and result.detail["who_type"] == "Lead"
    assert [q.split(" FROM ")[1].split()[0] for q in org.queries] == ["Contact", "Lead"]


def test_without_a_match_the_task_is_logged_unlinked(org: FakeSalesforce) -> None:
    org.add_contact(phone="+15550109999")
    result = send(org)
    assert result.ok and org.problems == []
    [task] = org.tasks.values()
    assert "WhoId" not in task
    assert result.detail["note"] == "no contact or lead matched"


def test_rejected_credentials_are_not_retried(org: FakeSalesforce) -> None:
    result = send(org, credentials={**org.credentials(), "client_secret": "wrong"})
    assert not result.ok and not result.retryable and result.status_code == 400
    assert result.error == "salesforce token: credentials rejected (invalid_client)"
    assert "wrong" not in str(result) and org.tasks == {}
    org.script(json_answer(401, {"error": "invalid_client", "error_description": "nope"}), "/oauth2/token")
    assert send(org).retryable is False


def test_server_errors_and_api_limits_are_retried(org: FakeSalesforce) -> None:
    org.script(json_answer(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]), "/oauth2/token")
    token_down = send(org)
    assert not token_down.ok and token_down.retryable and token_down.error == "salesforce token: 503"
    org.script(json_answer(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]), "/sobjects/Task")
    create_down = send(org)
    assert create_down.retryable and create_down.error.startswith("salesforce create task: 500 UNKNOWN_EXCEPTION")
    org.script(json_answer(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]),
               "/query")
    limited = send(org)
    assert limited.retryable and "REQUEST_LIMIT_EXCEEDED" in limited.error
    assert org.tasks == {}


def test_configuration_errors_are_not_retried(org: FakeSalesforce) -> None:
    org.script(json_answer(400, [{"errorCode": "INVALID_FIELD", "message": "No such column 'TaskSubtype'"}]),
               "/sobjects/Task")
    result = send(org)
    assert not result.retryable and result.error == (
        "salesforce create task: 400 INVALID_FIELD: No such column 'TaskSubtype'")
    org.script(json_answer(403, [{"errorCode": "API_DISABLED_FOR_ORG", "message": "API is not enabled"}]), "/query")
    assert send(org).retryable is False
    assert send(org, credentials={"instance_url": org.url}).error == "credentials.client_id is missing"


def test_a_retry_does_not_log_the_call_twice(org: FakeSalesforce) -> None:
    first = send(org, attempt=1)
    again = send(org, attempt=2)
    assert first.ok and again.ok and org.problems == []
    assert len(org.tasks) == 1
    assert again.detail == {"task_id": first.detail["task_id"], "already_created": True}
    other_delivery = send(org, attempt=2, webhook_id="msg_other")
    assert other_delivery.ok and len(org.tasks) == 2


def test_quotes_in_soql_values_are_escaped(org: FakeSalesforce) -> None:
    result = send(org, attempt=2, webhook_id="msg_o'brien\\x")
    assert result.ok and org.problems == []  # the fake parses every query strictly
    assert "CallObject = 'msg_o\\'brien\\\\x'" in org.queries[0]
    assert soql_literal("a'b\"c\\d\ne") == "'a\\'b\\\"c\\\\d\\ne'"


def test_the_token_answers_instance_url_is_used_for_data_calls() -> None:
    with FakeSalesforce() as login, FakeSalesforce() as instance:
        login.script(json_answer(200, {"access_token": "00Dx!tok", "instance_url": instance.url,
                                       "token_type": "Bearer"}), "/oauth2/token")
        instance.tokens.add("00Dx!tok")
        result = SalesforceChannel().send(delivery_request("salesforce", credentials={
            **login.credentials(), "instance_url": login.url + "/some/path/"}))
        assert result.ok and len(instance.tasks) == 1 and len(login.requests) == 1


def test_long_transcripts_fit_the_description(org: FakeSalesforce) -> None:
    turns = [{"role": "user", "text": "y" * 500, "start_s": i, "end_s": i + 1} for i in range(200)]
    result = send(org, event=real_call_event(transcript=turns))
    assert result.ok and org.problems == []
    description = next(iter(org.tasks.values()))["Description"]
    assert 31000 < len(description) <= 32000 and description.endswith("… (transcript shortened)")


def test_helpers() -> None:
    assert instance_base("acme.my.salesforce.com/") == "https://acme.my.salesforce.com"
    assert instance_base("https://acme.my.salesforce.com/services/") == "https://acme.my.salesforce.com"
    variants = phone_variants("+15550100001")
    assert variants[:3] == ["+15550100001", "15550100001", "5550100001"] and "(555) 010-0001" in variants
    assert phone_variants("+447700900123") == ["+447700900123", "447700900123"]
