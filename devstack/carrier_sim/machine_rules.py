"""The simulated answering machine's settings (``SimRules.machine``), and the rules' error type.

Kept apart from :mod:`devstack.carrier_sim.rules` so the call and media modules can name them without
importing the rules (which import the calls).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class RulesError(ValueError):
    """Rules that cannot be used (bad probabilities, negative delays, malformed JSON)."""


DEFAULT_GREETING = "Hi, you have reached Sam. Please leave a message after the tone."


@dataclass(frozen=True)
class MachineRules:
    """How the simulated answering machine behaves (:mod:`devstack.carrier_sim.answering_machine`).

    It plays ``greeting`` then a 1 kHz beep of ``beep`` seconds, then records the caller's message
    until the caller hangs up, the caller has been silent for ``silence_timeout`` seconds (as real
    voicemail systems do; counted from the beep when nothing is said), or ``max_message`` seconds
    have been recorded.
    """

    greeting: str = DEFAULT_GREETING
    beep: float = 0.5
    silence_timeout: float = 5.0
    max_message: float = 60.0

    def validate(self) -> None:
        if not isinstance(self.greeting, str) or not self.greeting.strip():
            raise RulesError("machine.greeting must be a non-empty sentence")
        for name, low, high in (("beep", 0.05, 5.0), ("silence_timeout", 0.5, 60.0), ("max_message", 1.0, 300.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise RulesError(f"machine.{name} must be seconds between {low:g} and {high:g}, got {value!r}")

    def to_json(self) -> dict[str, Any]:
        return {"greeting": self.greeting, "beep": self.beep, "silence_timeout": self.silence_timeout,
                "max_message": self.max_message}

    @classmethod
    def from_json(cls, data: Any) -> MachineRules:
        if not isinstance(data, Mapping):
            raise RulesError("machine must be an object")
        unknown = set(data) - {"greeting", "beep", "silence_timeout", "max_message"}
        if unknown:
            raise RulesError(f"unknown machine setting(s): {', '.join(sorted(unknown))}")
        machine = cls(**dict(data))
        machine.validate()
        return machine
