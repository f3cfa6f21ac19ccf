"""WhatsApp channel against a local Graph API: one text message per recipient, Graph error codes mapped."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.delivery.channels.whatsapp import WhatsAppChannel
from tests.delivery.provider_servers import (
    FakeWhatsApp,
    delivery_request,
    graph_error,
    json_answer,
    local_settings,
    real_call_event,
)

RECIPIENTS = ["+15550100101", "+447700900123"]


@pytest.fixture()
def graph() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as server:
        yield server


def send(graph: FakeWhatsApp, recipients: list[str] = RECIPIENTS, **kw):
    credentials = kw.pop("credentials", graph.credentials())
    return WhatsAppChannel().send(delivery_request(
        "cloud_whatsapp", config={"recipients": recipients, **kw.pop("config", {})}, credentials=credentials,
        settings=local_settings(graph_api_url=graph.graph_url), **kw))


def test_sends_the_summary_to_every_recipient(graph: FakeWhatsApp) -> None:
    result = send(graph)
    assert result.ok and result.status_code == 200 and result.error is None
    assert graph.problems == []
    assert [m["to"] for m in graph.messages] == ["15550100101", "447700900123"]
    assert result.detail == {"sent_to": RECIPIENTS,
                             "message_ids": {RECIPIENTS[0]: "wamid.HBgL000001", RECIPIENTS[1]: "wamid.HBgL000002"}}
    message = graph.messages[0]
    assert (message["messaging_product"], message["recipient_type"], message["type"]) == (
        "whatsapp", "individual", "text")
    body = message["text"]["body"]
    assert message["text"]["preview_url"] is True
    assert body.startswith("*Call with +15550100001 completed — Front desk*\n\n")
    assert "The caller booked a table for Friday at seven." in body and "- time: 19:00" in body
    assert real_call_event()["recording_url"] in body and "User: No, thanks. Bye!" in body
    assert all(r.headers["authorization"] == f"Bearer {graph.token}" for r in graph.requests)


def test_long_calls_fit_one_message(graph: FakeWhatsApp) -> None:
    turns = [{"role": "agent", "text": "z" * 300, "start_s": i, "end_s": i + 1} for i in range(100)]
    result = send(graph, [RECIPIENTS[0]], event=real_call_event(transcript=turns))
    assert result.ok and graph.problems == []  # the fake refuses a body over 4096 characters
    body = graph.messages[0]["text"]["body"]
    assert 3800 < len(body) <= 4096 and body.endswith("… (transcript shortened)")


def test_a_bad_token_stops_at_the_first_recipient(graph: FakeWhatsApp) -> None:
    result = send(graph, credentials={**graph.credentials(), "access_token": "EAAexpired"})
    assert not result.ok and not result.retryable and result.status_code == 401
    assert result.error.startswith("whatsapp 401: 190 Invalid OAuth access token")
    assert len(graph.requests) == 1 and "EAAexpired" not in str(result)
    assert result.detail == {"sent_to": [], "message_ids": {}, "failed": {RECIPIENTS[0]: result.error},
                             "not_tried": [RECIPIENTS[1]]}


def test_a_rate_limited_recipient_is_retried_and_reported(graph: FakeWhatsApp) -> None:
    graph.fail_for["447700900123"] = graph_error(400, 130429, "Rate limit hit")
    result = send(graph)
    assert not result.ok and result.retryable
    assert result.detail["sent_to"] == [RECIPIENTS[0]]
    assert result.detail["failed"] == {RECIPIENTS[1]: "whatsapp 400: 130429 Rate limit hit"}
    assert result.error == "whatsapp 400: 130429 Rate limit hit"


def test_an_unreachable_recipient_is_not_retried(graph: FakeWhatsApp) -> None:
    graph.fail_for["15550100101"] = graph_error(400, 131026, "Message undeliverable")
    graph.fail_for["447700900123"] = graph_error(400, 131047, "Re-engagement message")
    result = send(graph)
    assert not result.ok and not result.retryable and result.detail["sent_to"] == []
    assert result.error.startswith("2 recipients not reached; first: whatsapp 400: 131026")


@pytest.mark.parametrize("answer", [json_answer(500, {"error": {"message": "x", "code": 2, "type": "OAuthException"}}),
                                    json_answer(503, {}), graph_error(400, 131000, "Something went wrong"),
                                    graph_error(400, 80007, "Rate limit issues")])
def test_transient_errors_are_retried(graph: FakeWhatsApp, answer) -> None:
    graph.script(answer)
    result = send(graph, [RECIPIENTS[0]])
    assert not result.ok and result.retryable


def test_an_unknown_phone_number_id_is_not_retried(graph: FakeWhatsApp) -> None:
    result = send(graph, credentials={**graph.credentials(), "phone_number_id": "999"})
    assert not result.ok and not result.retryable and "100 Unsupported post request" in result.error


def test_missing_configuration(graph: FakeWhatsApp) -> None:
    assert send(graph, []).error == "no recipients configured"
    assert send(graph, credentials={"access_token": "t"}).error == "credentials.phone_number_id is missing"
    assert graph.requests == []
