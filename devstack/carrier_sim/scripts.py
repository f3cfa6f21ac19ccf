"""Caller scripts of the Twilio stand-in: what the simulated callee does on an answered call's Media Stream.

The rules (``/sim/rules``) carry scripts per To number; :mod:`devstack.carrier_sim.caller_voice` plays
them. A script is a JSON list of steps, run in order (see :func:`parse_script`)::

    [{"wait_agent": true},                       # agent talks, then is silent 0.8 s (the greeting)
     {"say": "Hi, I would like to book a table."},  # speak; the next step starts once it is sent
     {"barge_in_after": 0.8, "say": "Sorry..."},   # 0.8 s after the agent starts talking: interrupt
     {"pause": 1.0},                              # stay quiet for 1 s
     {"dtmf": "12#"},                             # key presses (one dtmf event per digit)
     {"hang_up": true}]                           # end the call (also done when the script runs out)

``wait_agent`` also takes ``{"silence": s, "timeout": s}`` (defaults 0.8 and 20); a wait that times
out moves on. Standard library only: the rules validate scripts without loading any audio code.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SILENCE = 0.8
DEFAULT_WAIT_TIMEOUT = 20.0
MAX_PAUSE = 300.0


class ScriptError(ValueError):
    """A caller script that cannot be run."""


@dataclass(frozen=True)
class Step:
    """One script step. ``kind``: wait_agent, say, barge_in, pause, dtmf or hang_up."""

    kind: str
    text: str = ""
    seconds: float = 0.0  # pause length, barge-in delay, or wait_agent's silence
    timeout: float = DEFAULT_WAIT_TIMEOUT
    digits: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.kind == "wait_agent":
            return {"wait_agent": {"silence": self.seconds, "timeout": self.timeout}}
        if self.kind == "say":
            return {"say": self.text}
        if self.kind == "barge_in":
            return {"barge_in_after": self.seconds, "say": self.text}
        if self.kind == "pause":
            return {"pause": self.seconds}
        if self.kind == "dtmf":
            return {"dtmf": self.digits}
        return {"hang_up": True}


def _seconds(value: Any, what: str, upper: float = MAX_PAUSE) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper \
            or math.isnan(value):
        raise ScriptError(f"{what} must be a number of seconds between 0 and {upper:g}, got {value!r}")
    return float(value)


def parse_step(data: Any) -> Step:
    """Parse one step object (raises :class:`ScriptError`)."""
    if not isinstance(data, Mapping):
        raise ScriptError(f"a script step must be an object, got {data!r}")
    keys = set(data)
    if keys == {"say"} or keys == {"barge_in_after", "say"}:
        text = data["say"]
        if not isinstance(text, str) or not text.strip():
            raise ScriptError("say needs a non-empty sentence")
        if "barge_in_after" in data:
            return Step("barge_in", text=text.strip(), seconds=_seconds(data["barge_in_after"], "barge_in_after"))
        return Step("say", text=text.strip())
    if keys == {"wait_agent"}:
        value = data["wait_agent"]
        if value is True:
            return Step("wait_agent", seconds=DEFAULT_SILENCE)
        if isinstance(value, Mapping) and set(value) <= {"silence", "timeout"}:
            return Step("wait_agent", seconds=_seconds(value.get("silence", DEFAULT_SILENCE), "wait_agent.silence"),
                        timeout=_seconds(value.get("timeout", DEFAULT_WAIT_TIMEOUT), "wait_agent.timeout"))
        raise ScriptError('wait_agent must be true or {"silence": s, "timeout": s}')
    if keys == {"pause"}:
        return Step("pause", seconds=_seconds(data["pause"], "pause"))
    if keys == {"dtmf"}:
        digits = data["dtmf"]
        if not isinstance(digits, str) or not digits or any(d not in "0123456789*#ABCD" for d in digits):
            raise ScriptError(f"dtmf must be a string of 0-9 * # A-D, got {digits!r}")
        return Step("dtmf", digits=digits)
    if keys == {"hang_up"}:
        if data["hang_up"] is not True:
            raise ScriptError("hang_up must be true")
        return Step("hang_up")
    raise ScriptError(f"unknown script step {dict(data)!r}; use say, barge_in_after+say, wait_agent, pause, "
                      "dtmf or hang_up")


def parse_script(data: Any) -> tuple[Step, ...]:
    """Parse a script (a JSON list of steps); raises :class:`ScriptError`."""
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
        raise ScriptError("a script must be a list of steps")
    return tuple(parse_step(item) for item in data)


DEFAULT_SCRIPT_JSON: list[dict[str, Any]] = [
    {"wait_agent": True},
    {"say": "Hi, I would like to book a table for two people tomorrow evening."},
    {"barge_in_after": 0.8, "say": "Sorry, actually make that three people."},
    {"wait_agent": True},
    {"say": "Thank you, goodbye."},
    {"pause": 1.0},
    {"hang_up": True},
]
DEFAULT_SCRIPT = parse_script(DEFAULT_SCRIPT_JSON)
