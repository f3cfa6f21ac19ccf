"""The webhook channel end to end: a real local receiver verifies what arrives with the
``standardwebhooks`` reference library, and each outcome maps to the right AttemptResult."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chalicelib.delivery.channels.webhook import WebhookChannel, signing_secrets
from chalicelib.delivery.contract import DeliveryRequest, DeliverySettings
from chalicelib.delivery.safe_http import SafeHttp
from chalicelib.delivery.sample import sample_call_completed
from chalicelib.domain.post_call_actions import new_signing_secret
from tests.delivery.test_safe_http import Answer, Receiver, Seen, free_port, resolver

LOCAL_SETTINGS = DeliverySettings(allowed_networks=("127.0.0.0/8",), timeout_s=5.0)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture()
def secret() -> str:
    return new_signing_secret()


def make_request(url: str, secret: str, *, config: dict[str, Any] | None = None, attempt: int = 1,
                 settings: DeliverySettings = LOCAL_SETTINGS, credentials: dict[str, Any] | None = None,
                 is_test: bool = False) -> DeliveryRequest:
    return DeliveryRequest(
        event=sample_call_completed(agent_id=3, agent_name="Booker"), action_id=11, action_type="webhook",
        config={"url": url, **(config or {})}, credentials=credentials or {"signing_secret": secret},
        webhook_id="msg_2x1abc", attempt=attempt, settings=settings, is_test=is_test)


def verified(seen: Seen, secret: str) -> Any:
    """The body, parsed, once the reference library accepted its signature."""
    return Webhook(secret).verify(seen.body, seen.headers)


def test_default_payload_arrives_signed(receiver: Receiver, secret: str) -> None:
    receiver.route = lambda seen: Answer(200, b'{"received":true}')
    result = WebhookChannel().send(make_request(receiver.url(), secret, attempt=2))
    assert result.ok and result.status_code == 200 and result.error is None
    assert result.latency_ms > 0
    assert result.detail == {"response_excerpt": '{"received":true}'}
    seen = receiver.requests[0]
    payload = verified(seen, secret)
    assert payload["event_type"] == "call.completed" and payload["agent"] == {"id": 3, "name": "Booker"}
    assert payload["summary"] == "The caller booked a table for Friday at seven."
    headers = seen.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Parley-Webhooks/1"
    assert headers["webhook-id"] == "msg_2x1abc"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["x-parley-event"] == "call.completed"
    assert headers["x-parley-attempt"] == "2"
    assert "x-parley-test" not in headers


def test_every_attempt_sends_the_same_bytes_and_id(receiver: Receiver, secret: str) -> None:
    channel = WebhookChannel()
    request = make_request(receiver.url(), secret)
    channel.send(request)
    channel.send(replace(request, attempt=2))
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert (first.headers["x-parley-attempt"], second.headers["x-parley-attempt"]) == ("1", "2")


def test_include_selection(receiver: Receiver, secret: str) -> None:
    WebhookChannel().send(make_request(receiver.url(), secret, config={"include": ["summary", "recording_url"]}))
    payload = verified(receiver.requests[0], secret)
    assert payload["summary"] and payload["recording_url"].startswith("https://")
    for absent in ("sentiment", "extracted_variables", "transcript", "full_conversation"):
        assert absent not in payload
    assert payload["call_context"] == {"customer_name": "Ada Lovelace"} and payload["call_id"] == 0


def test_payload_template(receiver: Receiver, secret: str) -> None:
    template = {"text": "{{call_context.customer_name}}: {{summary}}", "date": "{{extracted_variables.date}}",
                "vars": "{{extracted_variables}}", "missing": "{{call_context.nope}}"}
    WebhookChannel().send(make_request(receiver.url(), secret, config={"payload_template": template}))
    assert verified(receiver.requests[0], secret) == {
        "text": "Ada Lovelace: The caller booked a table for Friday at seven.", "date": "Friday",
        "vars": {"date": "Friday", "time": "19:00"}, "missing": ""}


def test_test_events_are_marked(receiver: Receiver, secret: str) -> None:
    WebhookChannel().send(make_request(receiver.url(), secret, is_test=True))
    assert receiver.requests[0].headers["x-parley-test"] == "true"


def test_rotation_signs_with_both_secrets_during_the_grace_window(receiver: Receiver, secret: str) -> None:
    old = new_signing_secret()
    credentials = {"signing_secret": secret, "previous_signing_secret": old,
                   "previous_signing_secret_expires_at": str(int(time.time()) + 3600)}
    WebhookChannel().send(make_request(receiver.url(), secret, credentials=credentials))
    seen = receiver.requests[0]
    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    verified(seen, secret)
    verified(seen, old)


def test_an_expired_previous_secret_no_longer_signs(receiver: Receiver, secret: str) -> None:
    old = new_signing_secret()
    credentials = {"signing_secret": secret, "previous_signing_secret": old,
                   "previous_signing_secret_expires_at": int(time.time()) - 1}
    WebhookChannel().send(make_request(receiver.url(), secret, credentials=credentials))
    seen = receiver.requests[0]
    verified(seen, secret)
    with pytest.raises(WebhookVerificationError):
        verified(seen, old)


def test_signing_secrets_order_and_window() -> None:
    now = 1_000_000.0
    assert signing_secrets({"signing_secret": "a"}, now) == ["a"]
    assert signing_secrets({"signing_secret": "a", "previous_signing_secret": "b"}, now) == ["a", "b"]
    assert signing_secrets({"signing_secret": "a", "previous_signing_secret": "b",
                            "previous_signing_secret_expires_at": now + 1}, now) == ["a", "b"]
    assert signing_secrets({"signing_secret": "a", "previous_signing_secret": "b",
                            "previous_signing_secret_expires_at": "soon"}, now) == ["a"]
    assert signing_secrets({}, now) == []


def test_gone_disables(receiver: Receiver, secret: str) -> None:
    receiver.route = lambda seen: Answer(410, b"unsubscribed")
    result = WebhookChannel().send(make_request(receiver.url(), secret))
    assert (result.ok, result.gone, result.retryable, result.status_code) == (False, True, False, 410)
    assert result.detail == {"response_excerpt": "unsubscribed"}


@pytest.mark.parametrize("status", [500, 503, 429, 404])
def test_other_statuses_are_retried(receiver: Receiver, secret: str, status: int) -> None:
    receiver.route = lambda seen: Answer(status, b"x" * 2000)
    result = WebhookChannel().send(make_request(receiver.url(), secret))
    assert (result.ok, result.gone, result.retryable, result.status_code) == (False, False, True, status)
    assert result.error == f"receiver answered {status}"
    assert len(result.detail["response_excerpt"]) == 500


def test_slow_receiver_times_out(receiver: Receiver, secret: str) -> None:
    receiver.route = lambda seen: Answer(200, delay_s=1.0)
    settings = DeliverySettings(allowed_networks=("127.0.0.0/8",), timeout_s=0.3)
    result = WebhookChannel().send(make_request(receiver.url(), secret, settings=settings))
    assert (result.ok, result.retryable, result.status_code) == (False, True, None)
    assert result.error == "timeout after 0.3 s"


def test_connection_refused_is_retried(secret: str) -> None:
    result = WebhookChannel().send(make_request(f"http://127.0.0.1:{free_port()}/hook", secret))
    assert (result.ok, result.retryable, result.refused, result.error) == (False, True, False, "connection refused")


def test_private_target_is_refused_and_not_retried(receiver: Receiver, secret: str) -> None:
    settings = DeliverySettings(timeout_s=5.0)  # as deployed: no allowed networks
    result = WebhookChannel().send(make_request(receiver.url(), secret, settings=settings))
    assert (result.ok, result.refused, result.retryable, result.status_code) == (False, True, False, None)
    assert result.error == "refused: 127.0.0.1 is a loopback address"
    assert receiver.connections == 0


def test_redirect_to_metadata_is_refused(receiver: Receiver, secret: str) -> None:
    receiver.route = lambda seen: Answer(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
    http = SafeHttp(allowed_networks=("127.0.0.1/32",), resolver=resolver({"hooks.example": ["127.0.0.1"]}))
    result = WebhookChannel(http).send(make_request(receiver.url(host="hooks.example"), secret))
    assert result.refused and not result.retryable
    assert result.error == ("refused: redirect to http://169.254.169.254/latest/meta-data/: "
                            "169.254.169.254 is a link-local address")


def test_missing_url_or_secret_is_not_retried(receiver: Receiver, secret: str) -> None:
    no_url = replace(make_request(receiver.url(), secret), config={})
    no_secret = make_request(receiver.url(), secret, credentials={"other": "x"})
    for request in (no_url, no_secret):
        result = WebhookChannel().send(request)
        assert not result.ok and not result.retryable and result.error
    assert receiver.requests == []


def test_body_is_exactly_what_was_signed(receiver: Receiver, secret: str) -> None:
    WebhookChannel().send(make_request(receiver.url(), secret))
    seen = receiver.requests[0]
    assert json.loads(seen.body) == verified(seen, secret)
    tampered = seen.body.replace(b"Friday", b"Monday")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, seen.headers)
