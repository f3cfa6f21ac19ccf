"""Webhook bodies built from a ``call.completed`` event (schema v1, see ``sample.py``).

Three shapes, chosen by the action's config (``body_for``):

1. ``payload_template`` set: the template with every ``{{variable}}`` replaced (``render_template``).
2. ``include`` set: the basics plus only the listed items (``included_payload``).
3. otherwise: the default payload (``default_payload``), a stable, documented object:

   ====================== =========================================================================
   event_type             "call.completed"
   version                event schema version ("1")
   test                   true for "send a test event" deliveries
   occurred_at            ISO 8601, when the event was produced
   call_id, bulk_call_id  the call, and the campaign it belongs to (null if none)
   agent                  {"id": ..., "name": ...}
   from_number, to_number E.164
   status, ended_by       "completed" | "failed" | "busy" | "no_answer"; who hung up
   started_at, ended_at   ISO 8601
   duration_s             seconds (number)
   summary, sentiment     post-call analysis (null when not available)
   extracted_variables    {key: value}
   transcript             [{"role", "text", "start_s", "end_s"}, ...]; transcript_truncated: bool
   full_conversation      the transcript as "Agent: ...\\nUser: ..." text
   recording_url          pre-signed URL (null without recording); recording_url_expires_at ISO 8601
   call_context           the variables the call was started with
   analysis_errors        what the analysis could not produce ([] when all went well)
   ====================== =========================================================================

Keys are always present (null/empty when the event lacks them) and always in this order, and the
bytes are compact JSON: the same event and config give byte-identical bodies on every retry.

Template variables: ``summary``, ``sentiment``, ``status``, ``ended_by``, ``duration_s``, ``call_id``,
``bulk_call_id``, ``agent_id``, ``agent_name``, ``from_number``, ``to_number``, ``started_at``,
``ended_at``, ``occurred_at``, ``recording_url``, ``recording_url_expires_at``, ``full_conversation``,
``transcript``, ``extracted_variables`` / ``extracted_variables.<key>``, ``call_context`` /
``call_context.<key>``, ``analysis_errors``, ``agent``, ``event_type``, ``test``. Any dotted path walks
into objects (and lists by index: ``transcript.0.text``). Only string *values* are rendered; keys
are kept as written.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.delivery import templates

EVENT_TYPE = "call.completed"

_BASIC_KEYS = ("event_type", "version", "test", "occurred_at", "call_id", "bulk_call_id", "agent",
               "from_number", "to_number", "status", "ended_by", "started_at", "ended_at", "duration_s")
# Each include item and the event fields it adds, in the order they appear in the body.
_INCLUDE_FIELDS: dict[str, tuple[str, ...]] = {
    "summary": ("summary",),
    "sentiment": ("sentiment",),
    "extracted_variables": ("extracted_variables",),
    "fullConversation": ("transcript", "transcript_truncated", "full_conversation"),
    "recording_url": ("recording_url", "recording_url_expires_at"),
}
_ANALYSIS_ITEMS = frozenset({"summary", "sentiment", "extracted_variables"})
_DEFAULTS: dict[str, Any] = {"event_type": EVENT_TYPE, "version": "1", "test": False,
                             "extracted_variables": {}, "transcript": [], "transcript_truncated": False,
                             "call_context": {}, "analysis_errors": []}


def _field(event: Mapping[str, Any], key: str) -> Any:
    value = event.get(key)
    if key == "agent":
        agent = value if isinstance(value, Mapping) else {}
        return {"id": agent.get("id"), "name": agent.get("name")}
    return _DEFAULTS.get(key) if value is None else value


def _pick(event: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: _field(event, key) for key in keys}


def default_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the event says about the call, in the documented order (module docstring)."""
    keys = (*_BASIC_KEYS, "summary", "sentiment", "extracted_variables", "transcript", "transcript_truncated",
            "full_conversation", "recording_url", "recording_url_expires_at", "call_context", "analysis_errors")
    return _pick(event, keys)


def included_payload(event: Mapping[str, Any], include: Iterable[str]) -> dict[str, Any]:
    """The basics (ids, numbers, status, duration, timestamps, call_context) and the ``include`` items
    only. Items come in a fixed order whatever the list's order; unknown items are ignored;
    ``analysis_errors`` comes along with any analysis item (summary, sentiment, extracted_variables)."""
    wanted = set(include)
    keys: list[str] = [*_BASIC_KEYS]
    for item, fields in _INCLUDE_FIELDS.items():
        if item in wanted:
            keys.extend(fields)
    keys.append("call_context")
    if wanted & _ANALYSIS_ITEMS:
        keys.append("analysis_errors")
    return _pick(event, keys)


def template_variables(event: Mapping[str, Any]) -> dict[str, Any]:
    """The values a template may use (see the module docstring), from the event."""
    variables = default_payload(event)
    agent = variables["agent"]
    variables["agent_id"] = agent.get("id")
    variables["agent_name"] = agent.get("name")
    return variables


def render_template(template: Any, event: Mapping[str, Any]) -> Any:
    """``template`` with ``{{path}}`` replaced in every string value, however deeply nested.

    A string that is exactly one placeholder becomes the variable's JSON value (number, object,
    list, null); placeholders inside longer text are stringified (objects as compact JSON, null as
    ""). An unknown variable renders as "" rather than failing the delivery: a typo in a template
    should show up in the receiver's data, not as a call whose results never arrive.

    Linear in the template's size; raises ``templates.RenderedTooLarge`` as soon as the output passes
    ``templates.MAX_RENDERED_BYTES`` (see ``chalicelib.delivery.templates``)."""
    return templates.render(template, template_variables(event))


def payload_for(config: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """The JSON value to send: template, else include selection, else the default payload."""
    template = config.get("payload_template")
    if template:
        return render_template(template, event)
    include = config.get("include")
    if include:
        return included_payload(event, include)
    return default_payload(event)


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order: the same input always gives the same bytes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_for(config: Mapping[str, Any], event: Mapping[str, Any]) -> bytes:
    """The webhook body bytes for an action's ``config`` and a ``call.completed`` ``event``.

    A ``payload_template`` rendering to more than ``templates.MAX_RENDERED_BYTES`` raises
    ``templates.RenderedTooLarge`` (the webhook channel records it as a final failure)."""
    body = encode(payload_for(config, event))
    if config.get("payload_template") and len(body) > templates.MAX_RENDERED_BYTES:
        raise templates.RenderedTooLarge(templates.MAX_RENDERED_BYTES)
    return body
