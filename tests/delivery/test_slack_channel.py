"""Slack channel against a local incoming webhook that checks Block Kit structure, limits and escaping."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.delivery.channels.slack import (
    SlackChannel,
    cut_escaped,
    fit_lines,
    mrkdwn_clip,
)
from chalicelib.delivery.contract import DeliverySettings
from chalicelib.delivery.safe_http import SafeHttp
from tests.delivery.provider_servers import (
    FakeSlack,
    delivery_request,
    real_call_event,
    text_answer,
)


@pytest.fixture()
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def send(slack: FakeSlack, **kw):
    config = {"url": slack.webhook_url, **kw.pop("config", {})}
    return SlackChannel().send(delivery_request("slack", config=config, **kw))


def texts(message: dict) -> str:
    """Every text of a message, joined (for containment checks)."""
    out = [message["text"]]
    for block in message["blocks"]:
        for obj in [block.get("text")] + block.get("fields", []) + block.get("elements", []):
            if isinstance(obj, dict):
                out.append(obj.get("text") if isinstance(obj.get("text"), str) else obj.get("text", {}).get("text", ""))
    return "\n".join(t for t in out if t)


def test_posts_a_block_kit_message(slack: FakeSlack) -> None:
    result = send(slack)
    assert result.ok and result.status_code == 200 and result.error is None
    assert slack.problems == []
    [message] = slack.messages
    blocks = message["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                    "text": "Call with +15550100001 completed — Front desk"}}
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*Status*\ncompleted" in fields and "*Duration*\n42s" in fields and "*Sentiment*\npositive" in fields
    body = texts(message)
    assert "The caller booked a table for Friday at seven." in body
    assert "• *date*: Friday" in body
    assert "*Agent:* Hello, this is Sample agent. How can I help?" in body
    assert "*User:* No, thanks. Bye!" in body
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == real_call_event()["recording_url"]
    assert message["text"].startswith("Call with +15550100001 completed")
    assert result.latency_ms > 0


def test_call_text_is_escaped_so_nothing_is_injected(slack: FakeSlack) -> None:
    event = real_call_event(
        summary="Caller said <!channel> & asked for <https://evil.example|a refund>",
        extracted_variables={"note": "a<b>&c", "count": 3, "flag": True, "items": ["x", "y"]},
        transcript=[{"role": "user", "text": "ping <@U024BE7LH> now & later", "start_s": 0, "end_s": 1}],
    )
    assert send(slack, event=event).ok
    assert slack.problems == []  # the fake rejects any raw <, > or a bare &
    body = texts(slack.messages[0])
    assert "Caller said &lt;!channel&gt; &amp; asked for &lt;https://evil.example|a refund&gt;" in body
    assert "• *note*: a&lt;b&gt;&amp;c" in body and "• *count*: 3" in body and "• *flag*: yes" in body
    assert '• *items*: ["x", "y"]' in body
    assert "*User:* ping &lt;@U024BE7LH&gt; now &amp; later" in body
    assert all(t.get("verbatim") for b in slack.messages[0]["blocks"] if b["type"] == "section"
               for t in [b.get("text")] + b.get("fields", []) if t)


def test_long_calls_fit_slack_limits(slack: FakeSlack) -> None:
    event = real_call_event(
        agent={"id": 1, "name": "A" * 300},
        summary="S&<" * 2000,  # 6000 characters, 18000 once escaped
        extracted_variables={f"v{i}": "x" * 200 for i in range(50)},
        transcript=[{"role": "agent" if i % 2 else "user", "text": f"turn {i} " + "w&" * 100, "start_s": i,
                     "end_s": i + 1} for i in range(300)],
        recording_url="https://example.com/" + "r" * 4000,  # over the button's URL limit: left out
    )
    assert send(slack, event=event).ok
    assert slack.problems == []
    blocks = slack.messages[0]["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(text) <= 3000 for text in sections)
    transcript = next(t for t in sections if t.startswith("*Transcript*"))
    assert transcript.endswith("… (transcript shortened)") and "turn 0 " in transcript
    assert not [b for b in blocks if b["type"] == "actions"]


def test_include_limits_what_is_posted(slack: FakeSlack) -> None:
    assert send(slack, config={"include": ["summary"]}).ok
    body = texts(slack.messages[0])
    assert "The caller booked a table" in body
    assert "Transcript" not in body and "date" not in body and "Sentiment" not in body
    assert not [b for b in slack.messages[0]["blocks"] if b["type"] == "actions"]


def test_test_event_is_marked(slack: FakeSlack) -> None:
    assert send(slack, is_test=True).ok
    assert slack.messages[0]["blocks"][0]["text"]["text"].startswith("[Test] Call with")


@pytest.mark.parametrize(("status", "code"), [(404, "no_service"), (410, "channel_is_archived"),
                                              (403, "invalid_token"), (404, "channel_not_found")])
def test_a_dead_webhook_is_gone(slack: FakeSlack, status: int, code: str) -> None:
    slack.script(text_answer(status, code))
    result = send(slack)
    assert not result.ok and result.gone and not result.retryable
    assert result.status_code == status and result.error == f"slack {status}: {code}"


def test_invalid_payload_is_not_retried(slack: FakeSlack) -> None:
    slack.script(text_answer(400, "invalid_payload"))
    result = send(slack)
    assert (result.ok, result.retryable, result.gone, result.error) == (False, False, False,
                                                                        "slack 400: invalid_payload")


def test_rate_limit_and_server_errors_are_retried(slack: FakeSlack) -> None:
    from tests.delivery.provider_servers import Answer

    slack.script(Answer(429, b"rate_limited", "text/plain", {"Retry-After": "30"}))
    limited = send(slack)
    assert not limited.ok and limited.retryable and limited.detail == {"retry_after_s": 30.0}
    slack.script(text_answer(500, "rollup_error"))
    failed = send(slack)
    assert not failed.ok and failed.retryable and failed.error == "slack 500: rollup_error"


def test_private_targets_are_refused_without_leaking_the_url(slack: FakeSlack) -> None:
    result = send(slack, settings=DeliverySettings(allowed_networks=()))
    assert result.refused and not result.retryable and not result.ok
    assert "loopback" in result.error and "XXXX" not in result.error
    assert slack.requests == []


def test_unreachable_webhook_is_retried() -> None:
    with FakeSlack() as closed:
        url = closed.webhook_url
    http = SafeHttp(allowed_networks=("127.0.0.0/8",), timeout_s=1.0)
    result = SlackChannel(http).send(delivery_request("slack", config={"url": url}))
    assert not result.ok and result.retryable and not result.refused
    assert "XXXX" not in (result.error or "")


def test_escaped_text_is_cut_between_entities() -> None:
    assert cut_escaped("ab&amp;cd", 5) == "ab…"  # never "ab&a…"
    assert mrkdwn_clip("<" * 10, 12) == "&lt;&lt;…"
    assert fit_lines("*T*", ["one", "two", "three"], 100, "…") == "*T*\none\ntwo\nthree"
    shortened = fit_lines("*T*", ["x" * 50] * 10, 200, "(cut)")
    assert shortened.endswith("(cut)") and len(shortened) <= 200
