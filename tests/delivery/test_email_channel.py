"""Email channel through SES (moto): subject, text and HTML parts, escaping, error mapping."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.delivery.channels.email import MAX_RECIPIENTS, SUBJECT_AGENT_LIMIT, EmailChannel
from chalicelib.delivery.contract import DeliverySettings
from tests.delivery.provider_servers import delivery_request, real_call_event

SENDER = "Parley <no-reply@parley.example>"
RECIPIENTS = ["ops@acme.example", "sales@acme.example"]
REGION = "us-east-1"


@dataclass
class Ses:
    client: Any
    calls: list[dict[str, Any]]  # the parameters of every SendEmail call (moto keeps only one body part)


@pytest.fixture(scope="module")
def ses_module() -> Iterator[Ses]:
    """One embedded SES for the module (starting one costs most of a second)."""
    with mock_aws():
        client = boto3.client("ses", region_name=REGION)
        client.verify_email_identity(EmailAddress="no-reply@parley.example")
        calls: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.ses.SendEmail",
                                    lambda params, **_: calls.append(params))
        yield Ses(client, calls)


@pytest.fixture()
def ses(ses_module: Ses) -> Ses:
    ses_module.calls.clear()
    sent_messages().clear()
    return ses_module


def send(ses: Ses, **kw: Any):
    config = {"recipients": RECIPIENTS, **kw.pop("config", {})}
    settings = DeliverySettings(ses_sender=kw.pop("sender", SENDER))
    return EmailChannel(ses.client).send(delivery_request("email", config=config, settings=settings, **kw))


def sent_messages() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_sends_a_readable_text_and_html_message(ses: Ses) -> None:
    calls = ses.calls
    result = send(ses)
    assert result.ok and result.status_code == 200 and result.error is None
    assert result.detail["message_id"] and result.detail["recipients"] == 2
    [stored] = sent_messages()
    assert stored.source == SENDER and stored.destinations == {"ToAddresses": RECIPIENTS}
    assert stored.subject == "Call with +15550100001 completed — Front desk"
    [params] = calls
    text = params["Message"]["Body"]["Text"]["Data"]
    html = params["Message"]["Body"]["Html"]["Data"]
    assert html == stored.body  # what moto stored is the HTML part
    for part in (text, html):
        assert "The caller booked a table for Friday at seven." in part
        assert "positive" in part and "Friday" in part and "19:00" in part
        assert "No, thanks. Bye!" in part
    assert "Agent: Hello, this is Sample agent. How can I help?\nUser: I'd like to book" in text
    assert "Recording (link valid until" in text and real_call_event()["recording_url"] in text
    assert "<p><strong>Agent:</strong> Hello, this is Sample agent. How can I help?</p>" in html
    assert "<p><strong>User:</strong> I&#x27;d like to book a table for Friday at seven.</p>" in html
    assert f'<a href="{real_call_event()["recording_url"]}">Listen to the recording</a>' in html
    assert params["Message"]["Subject"]["Charset"] == "UTF-8"


def test_call_values_are_html_escaped(ses: Ses) -> None:
    calls = ses.calls
    event = real_call_event(
        agent={"id": 1, "name": "Desk <b>\nBcc: x@evil.example"},
        summary='<script>alert("x")</script> & <img src=x onerror=alert(1)>',
        extracted_variables={"<key>": "<value> & more"},
        transcript=[{"role": "user", "text": "</p><h1>hi</h1>", "start_s": 0, "end_s": 1}],
        recording_url='https://x.example/a.wav?b=1&c="2"',
    )
    assert send(ses, event=event).ok
    html = calls[0]["Message"]["Body"]["Html"]["Data"]
    text = calls[0]["Message"]["Body"]["Text"]["Data"]
    assert "<script>" not in html and "<img" not in html and "<h1>" not in html and "<key>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<th align=\"left\">&lt;key&gt;</th><td>&lt;value&gt; &amp; more</td>" in html
    assert "&lt;/p&gt;&lt;h1&gt;hi&lt;/h1&gt;" in html
    assert 'href="https://x.example/a.wav?b=1&amp;c=&quot;2&quot;"' in html
    assert '<script>alert("x")</script>' in text  # the text part is plain text: as said
    subject = calls[0]["Message"]["Subject"]["Data"]
    assert "\n" not in subject and subject == "Call with +15550100001 completed — Desk <b> Bcc: x@evil.example"


def test_include_and_test_marking(ses: Ses) -> None:
    calls = ses.calls
    assert send(ses, config={"include": ["summary", "extracted_variables"]}, is_test=True).ok
    text = calls[0]["Message"]["Body"]["Text"]["Data"]
    assert calls[0]["Message"]["Subject"]["Data"].startswith("[Test] Call with")
    assert "The caller booked" in text and "- date: Friday" in text
    assert "Transcript" not in text and "Recording" not in text and "Sentiment" not in text


def test_an_unverified_sender_is_rejected_for_good(ses: Ses) -> None:
    result = send(ses, sender="Parley <nobody@unverified.example>")
    assert not result.ok and not result.retryable and result.error == "MessageRejected"
    assert result.status_code == 400 and "not verified" in result.detail["message"]
    assert sent_messages() == []


class FailingSes:
    """An SES client whose SendEmail fails as told."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send_email(self, **_: Any) -> dict[str, Any]:
        raise self.error


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")


@pytest.mark.parametrize(("error", "retryable"), [
    (client_error("Throttling", 400), True),
    (client_error("ServiceUnavailable", 503), True),
    (client_error("InternalFailure", 500), True),
    (client_error("MessageRejected", 400), False),
    (client_error("MailFromDomainNotVerifiedException", 400), False),
    (client_error("AccountSendingPausedException", 400), False),
    (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), True),
])
def test_ses_errors_map_to_retryable_or_not(error: Exception, retryable: bool) -> None:
    result = EmailChannel(FailingSes(error)).send(delivery_request("email", config={"recipients": RECIPIENTS}))
    assert not result.ok and result.retryable is retryable
    expected = error.response["Error"]["Code"] if isinstance(error, ClientError) else "ses: EndpointConnectionError"
    assert result.error == expected


def test_no_recipients_is_a_configuration_error() -> None:
    result = EmailChannel(FailingSes(AssertionError("not called"))).send(delivery_request("email", config={}))
    assert not result.ok and not result.retryable and result.error == "no recipients configured"


# -- bounds on what the platform's sender relays --------------------------------------------------------

def test_the_subject_is_one_printable_line_with_the_agent_name_capped(ses: Ses) -> None:
    calls = ses.calls
    name = "Desk\r\nBcc: x@evil.example\x00\x1b[31m\u202eevil\u200b" + "N" * 300
    assert send(ses, event=real_call_event(agent={"id": 1, "name": name})).ok
    subject = calls[0]["Message"]["Subject"]["Data"]
    assert subject.startswith("Call with +15550100001 completed — Desk Bcc: x@evil.example [31m evil N")
    assert not [ch for ch in subject if not ch.isprintable()]  # no CR/LF, NUL, ESC, bidi override, zero-width
    agent_part = subject.split(" — ", 1)[1]
    assert len(agent_part) == SUBJECT_AGENT_LIMIT and agent_part.endswith("…")


def test_an_action_stored_with_more_recipients_than_allowed_sends_nothing(ses: Ses) -> None:
    many = [f"person{i}@acme.example" for i in range(MAX_RECIPIENTS + 1)]
    result = send(ses, config={"recipients": many})
    assert not result.ok and not result.retryable
    assert result.error == "the action has 11 recipients, more than the 10 allowed: update its recipients"
    assert ses.calls == [] and sent_messages() == []


class CountingQuota:
    def __init__(self, allowed: int) -> None:
        self.allowed, self.taken = allowed, []

    def take(self, account_id: int) -> str | None:
        self.taken.append(account_id)
        return None if len(self.taken) <= self.allowed else "the account reached its limit of 2 emails a day"


def test_beyond_the_accounts_daily_quota_an_email_fails_for_good_without_sending(ses: Ses) -> None:
    quota = CountingQuota(allowed=2)
    channel = EmailChannel(ses.client, quota)
    request = replace(delivery_request("email", config={"recipients": RECIPIENTS},
                                       settings=DeliverySettings(ses_sender=SENDER)), account_id=42)
    assert [channel.send(request).ok for _ in range(2)] == [True, True]
    refused = channel.send(request)
    assert not refused.ok and not refused.retryable
    assert refused.error == "the account reached its limit of 2 emails a day"
    assert quota.taken == [42, 42, 42] and len(ses.calls) == 2
