"""``payload_template`` rendering: ``{{path}}`` placeholders in every string of a JSON template.

The placeholders are found by a hand-written scanner that reads each character a bounded number of times
(linear in the template's length, whatever it holds); a regular expression with ``\\s*`` on both sides of a
lazy group backtracked cubically on ``"{{" + " " * n``. The syntax is unchanged: ``{{`` then any text
without ``{`` or ``}`` then ``}}``, the name trimmed of surrounding whitespace; anything else stays as
written.

Two bounds keep a template from turning a call into an unbounded body:

* ``MAX_TEMPLATE_BYTES``: the template itself, as compact UTF-8 JSON (the API refuses a bigger one);
* ``MAX_RENDERED_BYTES``: the rendered body. Rendering stops as soon as its output passes the bound
  (``RenderedTooLarge``), so a template repeating ``{{full_conversation}}`` costs at most the bound, never
  the product of its repetitions and the transcript.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

MAX_TEMPLATE_BYTES = 16 * 1024
MAX_RENDERED_BYTES = 256 * 1024
MISSING: Any = object()  # what ``lookup`` answers for a path that does not exist


class RenderedTooLarge(ValueError):
    """The rendered body would be larger than ``MAX_RENDERED_BYTES``: sending it is refused."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the rendered payload_template is larger than {limit} bytes (the limit for a webhook "
                         "body): shorten the template or embed fewer large variables such as full_conversation")
        self.limit = limit


def template_size(template: Any) -> int:
    """Bytes of ``template`` as compact UTF-8 JSON (what ``MAX_TEMPLATE_BYTES`` bounds)."""
    return len(json.dumps(template, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def placeholders(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``{{ name }}`` in ``text``, left to right, non-overlapping.

    Linear time: the next ``{`` and ``}`` after the cursor are remembered and only looked for again once
    the cursor passes them, and the cursor only moves forward."""
    next_open = next_close = -1  # positions found so far (-1: not looked for yet); len(text): none left
    end = len(text)
    start = text.find("{{")
    while start != -1:
        inner = start + 2
        if next_close < inner:
            found = text.find("}", inner)
            next_close = end if found == -1 else found
        if next_close == end:
            return  # no "}" left: no placeholder can close
        if next_open < inner:
            found = text.find("{", inner)
            next_open = end if found == -1 else found
        if next_close < next_open and text.startswith("}", next_close + 1):
            yield start, next_close + 2, text[inner:next_close].strip()
            start = text.find("{{", next_close + 2)
        else:
            start = text.find("{{", start + 1)


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path``; ``MISSING`` when any step does not exist."""
    if path in variables:  # a flat name wins (a call_context key may itself contain a dot)
        return variables[path]
    head, _, rest = path.partition(".")
    value: Any = variables.get(head, MISSING)
    while rest and value is not MISSING:
        if isinstance(value, Mapping) and rest in value:
            return value[rest]
        step, _, rest = rest.partition(".")
        if isinstance(value, Mapping):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            value = MISSING
    return value


def as_text(value: Any) -> str:
    """How a value reads inside longer text: strings as they are, null as "", others as compact JSON."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # true, 42.0, {"a":1}


class _Renderer:
    """One rendering: the variables and how many characters the output holds so far."""

    def __init__(self, variables: Mapping[str, Any], limit: int) -> None:
        self.variables = variables
        self.limit = limit
        self.size = 0

    def grow(self, chars: int) -> None:
        # characters never outnumber UTF-8 bytes, so passing the bound in characters passes it in bytes
        self.size += chars
        if self.size > self.limit:
            raise RenderedTooLarge(self.limit)

    def node(self, node: Any) -> Any:
        if isinstance(node, str):
            return self.string(node)
        if isinstance(node, Mapping):
            out = {}
            for key, value in node.items():
                self.grow(len(key) + 4)  # "key":,
                out[key] = self.node(value)
            return out
        if isinstance(node, list):
            return [self.node(value) for value in node]
        self.grow(len(as_text(node)) + 1)
        return node

    def string(self, text: str) -> Any:
        found = placeholders(text)
        first = next(found, None)
        if first is None:
            self.grow(len(text) + 2)
            return text
        if first[0] == 0 and first[1] == len(text):  # exactly one placeholder: the value keeps its JSON type
            value = lookup(self.variables, first[2])
            value = "" if value is MISSING else value
            self.grow(len(as_text(value)) + 2)
            return value
        parts: list[str] = []
        cursor = 0
        for start, end, name in (first, *found):
            value = as_text(lookup(self.variables, name))
            self.grow(start - cursor + len(value))
            parts += (text[cursor:start], value)
            cursor = end
        self.grow(len(text) - cursor + 2)
        parts.append(text[cursor:])
        return "".join(parts)


def render(template: Any, variables: Mapping[str, Any], limit: int = MAX_RENDERED_BYTES) -> Any:
    """``template`` with ``{{path}}`` replaced in every string value, however deeply nested.

    Raises ``RenderedTooLarge`` as soon as the output passes ``limit`` characters (callers check the
    encoded bytes too: JSON escapes can make the bytes a little longer)."""
    return _Renderer(variables, limit).node(template)
