"""The monitoring events' JSON Schemas (docs/events/monitor.*.v1.schema.json), for tests to check events with."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

EVENTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "events"


@cache
def schema_for(kind: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"monitor.{kind}.v1.schema.json").read_text())


def check(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` fits its type's schema."""
    jsonschema.validate(event, schema_for(event["type"]), cls=jsonschema.Draft202012Validator)
