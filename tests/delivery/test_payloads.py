"""Webhook bodies: the default payload, the include selection, templates and byte-stable encoding."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.delivery.payloads import body_for, default_payload, included_payload, render_template
from chalicelib.delivery.sample import sample_call_completed

BASICS = ["event_type", "version", "test", "occurred_at", "call_id", "bulk_call_id", "agent", "from_number",
          "to_number", "status", "ended_by", "started_at", "ended_at", "duration_s"]


@pytest.fixture()
def event() -> dict[str, Any]:
    return sample_call_completed(agent_id=7, agent_name="Booker")


def test_default_payload_has_every_documented_key_in_order(event: dict[str, Any]) -> None:
    payload = default_payload(event)
    assert list(payload) == [*BASICS, "summary", "sentiment", "extracted_variables", "transcript",
                             "transcript_truncated", "full_conversation", "recording_url",
                             "recording_url_expires_at", "call_context", "analysis_errors"]
    assert payload["event_type"] == "call.completed"
    assert payload["agent"] == {"id": 7, "name": "Booker"}
    assert payload["summary"] == event["summary"]
    assert payload["extracted_variables"] == {"date": "Friday", "time": "19:00"}
    assert payload["transcript"] == event["transcript"]
    assert payload["call_context"] == {"customer_name": "Ada Lovelace"}
    assert "account_id" not in payload


def test_default_payload_of_a_sparse_event_keeps_its_shape() -> None:
    payload = default_payload({"call_id": 5, "status": "no_answer"})
    assert payload["call_id"] == 5 and payload["status"] == "no_answer"
    assert payload["event_type"] == "call.completed" and payload["summary"] is None
    assert payload["extracted_variables"] == {} and payload["transcript"] == [] and payload["analysis_errors"] == []
    assert payload["agent"] == {"id": None, "name": None}


@pytest.mark.parametrize(("include", "extra"), [
    (["summary"], ["summary"]),
    (["sentiment", "summary"], ["summary", "sentiment"]),  # fixed order, whatever the list's order
    (["extracted_variables"], ["extracted_variables"]),
    (["fullConversation"], ["transcript", "transcript_truncated", "full_conversation"]),
    (["recording_url"], ["recording_url", "recording_url_expires_at"]),
])
def test_included_payload_has_the_basics_and_only_the_included_items(
        event: dict[str, Any], include: list[str], extra: list[str]) -> None:
    payload = included_payload(event, include)
    analysis = ["analysis_errors"] if {"summary", "sentiment", "extracted_variables"} & set(include) else []
    assert list(payload) == [*BASICS, *extra, "call_context", *analysis]
    for key in extra:
        assert payload[key] == event[key]


def test_template_renders_variables_everywhere(event: dict[str, Any]) -> None:
    template = {
        "text": "Call {{call_id}} with {{ call_context.customer_name }}: {{summary}}",
        "when": "{{extracted_variables.date}}",
        "fields": [{"name": "time", "value": "{{extracted_variables.time}}"}, "{{agent_name}}", 3, None, True],
        "meta": {"agent": "{{agent_id}}", "to": "{{to_number}}", "from": "{{from_number}}"},
    }
    rendered = render_template(template, event)
    assert rendered == {
        "text": "Call 0 with Ada Lovelace: The caller booked a table for Friday at seven.",
        "when": "Friday",
        "fields": [{"name": "time", "value": "19:00"}, "Booker", 3, None, True],
        "meta": {"agent": 7, "to": "+15550100001", "from": "+15550100000"},
    }


def test_a_lone_placeholder_keeps_the_json_type(event: dict[str, Any]) -> None:
    rendered = render_template({"d": "{{duration_s}}", "vars": "{{extracted_variables}}",
                                "t": "{{transcript}}", "none": "{{bulk_call_id}}", "test": "{{test}}"}, event)
    assert rendered == {"d": 42.0, "vars": {"date": "Friday", "time": "19:00"}, "t": event["transcript"],
                        "none": None, "test": True}


def test_embedded_values_are_stringified(event: dict[str, Any]) -> None:
    rendered = render_template({"s": "took {{duration_s}}s, vars={{extracted_variables}}, c={{bulk_call_id}}."},
                               event)
    assert rendered == {"s": 'took 42.0s, vars={"date":"Friday","time":"19:00"}, c=.'}


def test_unknown_variables_render_empty(event: dict[str, Any]) -> None:
    rendered = render_template({"a": "{{nope}}", "b": "x{{call_context.missing}}y", "c": "{{summary.deeper}}",
                                "d": "{{transcript.99.text}}", "e": "{{}}"}, event)
    assert rendered == {"a": "", "b": "xy", "c": "", "d": "", "e": ""}


def test_paths_walk_into_lists_and_dotted_keys(event: dict[str, Any]) -> None:
    event["call_context"]["order.id"] = "A-1"
    rendered = render_template({"first": "{{transcript.0.text}}", "order": "{{call_context.order.id}}"}, event)
    assert rendered == {"first": event["transcript"][0]["text"], "order": "A-1"}


def test_template_and_event_are_not_mutated(event: dict[str, Any]) -> None:
    template = {"a": ["{{summary}}", {"b": "{{call_id}}"}]}
    before_template, before_event = copy.deepcopy(template), copy.deepcopy(event)
    render_template(template, event)
    assert template == before_template and event == before_event


def test_body_for_chooses_template_then_include_then_default(event: dict[str, Any]) -> None:
    templated = json.loads(body_for({"payload_template": {"s": "{{summary}}"}, "include": ["summary"]}, event))
    assert templated == {"s": event["summary"]}
    selected = json.loads(body_for({"include": ["sentiment"]}, event))
    assert "sentiment" in selected and "summary" not in selected
    assert json.loads(body_for({"include": []}, event)) == default_payload(event)
    assert json.loads(body_for({}, event)) == default_payload(event)


def test_body_bytes_are_compact_utf8_and_identical_every_time(event: dict[str, Any]) -> None:
    event["call_context"]["customer_name"] = "Zoë"
    config = {"url": "https://example.com/hook"}
    first = body_for(config, event)
    assert first == body_for(config, copy.deepcopy(event))
    assert b'"customer_name":"Zo\xc3\xab"' in first
    assert first == json.dumps(json.loads(first), ensure_ascii=False, separators=(",", ":")).encode()
