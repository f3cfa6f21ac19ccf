"""payload_template rendering stays linear and bounded: the placeholder scanner and the rendered-size limit."""
from __future__ import annotations

import random
import re
import tracemalloc
from typing import Any

import pytest

from chalicelib.delivery import templates
from chalicelib.delivery.channels.webhook import WebhookChannel
from chalicelib.delivery.payloads import body_for, render_template
from chalicelib.delivery.safe_http import SafeHttp
from chalicelib.delivery.sample import sample_call_completed
from tests.delivery.provider_servers import delivery_request
from tests.delivery.test_safe_http import Receiver

# The documented syntax, as the regular expression that used to implement it (fine on short strings only).
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZI" * 2
SYNTAX = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@pytest.fixture()
def event() -> dict[str, Any]:
    return sample_call_completed(agent_id=7, agent_name="Booker")


@pytest.mark.timeout(30)  # a correctness bound, not a speed target: the backtracking regex needed hours here
@pytest.mark.parametrize("text", [
    "{{" + " " * 12_000,
    "{{" + " " * 12_000 + "}",
    "{{" + " \t" * 6_000 + "x" + " " * 6_000,
    "{{" * 30_000,
    "{{a}" * 20_000,
    "{{ " + "a " * 12_000 + "} }",
])
def test_pathological_templates_render_in_linear_time_and_stay_as_written(text: str,
                                                                          event: dict[str, Any]) -> None:
    assert render_template({"a": text}, event) == {"a": text}


def test_placeholders_follow_the_documented_syntax_exactly() -> None:
    rng = random.Random(10)
    alphabet = "{{}} a.\t"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        expected = [(m.start(), m.end(), m.group(1)) for m in SYNTAX.finditer(text)]
        assert list(templates.placeholders(text)) == expected, text


def test_placeholders_in_text_and_alone_still_render(event: dict[str, Any]) -> None:
    rendered = render_template({"a": "{{{summary}}}", "b": "{{ agent_name }}", "c": "x{{agent_id}}y{{ }}z",
                                "d": "{ {{to_number}} }", "e": "{{a}b}}"}, event)
    assert rendered == {"a": "{" + event["summary"] + "}", "b": "Booker", "c": "x7yz",
                        "d": "{ +15550100001 }", "e": "{{a}b}}"}


def _huge_template(size: int) -> dict[str, Any]:
    """A template of repeated {{full_conversation}} strings, ``size`` bytes as compact JSON."""
    piece = "{{full_conversation}}"
    return {"t": [piece] * (size // (len(piece) + 3))}


def test_a_template_rendering_past_the_body_limit_fails_fast_with_bounded_memory(event: dict[str, Any]) -> None:
    template = _huge_template(252_000)  # today's 252 KB template rendered a 60 MB body
    event["full_conversation"] = "Agent: hello there, how can I help?\nUser: " + "I would like a table. " * 10
    tracemalloc.start()
    try:
        with pytest.raises(templates.RenderedTooLarge, match="larger than 262144 bytes"):
            body_for({"payload_template": template}, event)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * templates.MAX_RENDERED_BYTES  # the output stops at the limit: never the 60 MB body


def test_a_rendered_body_just_under_the_limit_is_sent_whole(event: dict[str, Any]) -> None:
    event["full_conversation"] = "x" * 1000
    body = body_for({"payload_template": {"t": ["{{full_conversation}}"] * 250}}, event)
    assert len(body) < templates.MAX_RENDERED_BYTES and body.count(b"x" * 1000) == 250


def test_json_escapes_that_push_the_bytes_past_the_limit_are_caught(event: dict[str, Any]) -> None:
    event["full_conversation"] = "\n" * 1000  # 1000 characters, 2000 bytes once escaped
    with pytest.raises(templates.RenderedTooLarge):
        body_for({"payload_template": {"t": ["{{full_conversation}}"] * 200}}, event)


def test_the_webhook_channel_fails_an_oversized_body_without_sending_or_retrying(event: dict[str, Any]) -> None:
    event["full_conversation"] = "y" * 2000
    with Receiver() as receiver:
        request = delivery_request("webhook", event=event, credentials={"signing_secret": SECRET},
                                   config={"url": receiver.url(), "payload_template": _huge_template(16_000)})
        result = WebhookChannel(SafeHttp(allowed_networks=("127.0.0.0/8",))).send(request)
    assert not result.ok and not result.retryable and not result.refused
    assert result.error is not None and "larger than 262144 bytes" in result.error
    assert receiver.requests == []
