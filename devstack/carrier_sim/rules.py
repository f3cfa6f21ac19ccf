"""The rules of the Twilio stand-in: how the simulated network treats calls (``GET|PUT /sim/rules``)."""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.carrier_sim.calls import E164
from devstack.carrier_sim.machine_rules import MachineRules, RulesError
from devstack.carrier_sim.scripts import ScriptError, parse_script

MAX_CALLBACK_DELAY = 60.0


@dataclass(frozen=True)
class OutcomeProbabilities:
    """Chances that a dialled call ends busy, unanswered or failed; the rest are answered."""

    busy: float = 0.0
    no_answer: float = 0.0
    failed: float = 0.0

    def validate(self) -> None:
        """Raise :class:`RulesError` unless each chance is in [0, 1] and together they are <= 1."""
        for name in ("busy", "no_answer", "failed"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise RulesError(f"{name} must be a probability between 0 and 1, got {value!r}")
        if self.busy + self.no_answer + self.failed > 1.0 + 1e-9:
            raise RulesError("busy + no_answer + failed must not exceed 1")

    def draw(self, rng: random.Random) -> str:
        """One outcome ("answered", "busy", "no-answer" or "failed") drawn with these chances."""
        roll = rng.random()
        for outcome, chance in (("busy", self.busy), ("no-answer", self.no_answer), ("failed", self.failed)):
            if roll < chance:
                return outcome
            roll -= chance
        return "answered"

    def to_json(self) -> dict[str, float]:
        """The JSON form used by ``/sim/rules``."""
        return {"busy": self.busy, "no_answer": self.no_answer, "failed": self.failed}

    @classmethod
    def from_json(cls, data: Any) -> OutcomeProbabilities:
        """Parse ``{"busy": .., "no_answer": .., "failed": ..}`` (missing keys are 0)."""
        if not isinstance(data, Mapping):
            raise RulesError("outcome probabilities must be an object")
        unknown = set(data) - {"busy", "no_answer", "no-answer", "failed"}
        if unknown:
            raise RulesError(f"unknown outcome(s): {', '.join(sorted(unknown))}")
        probs = cls(busy=data.get("busy", 0.0), no_answer=data.get("no_answer", data.get("no-answer", 0.0)),
                    failed=data.get("failed", 0.0))
        probs.validate()
        return probs


# The documented by-number test rules: the To number's last digit forces an outcome.
NUMBER_RULES: dict[str, str] = {"0": "busy", "9": "no-answer", "8": "failed"}
# ... and a To number ending in 7 is answered by an answering machine (the call is answered as usual).
MACHINE_DIGIT = "7"
ANSWERERS = ("human", "machine")


@dataclass
class SimRules:
    """How the simulated network treats calls.

    Outcome precedence: the by-number rules (when ``number_rules`` is on, a To number ending in 0
    is busy, 9 no-answer, 8 failed), then the call's From number's entry in ``from_rules``, then
    the default ``outcomes``. Who answers an answered call: ``answered_by`` (To number -> ``human``
    or ``machine``) first, then the by-number rule (when ``number_rules`` is on, a To number ending
    in 7 is answered by an answering machine, behaving as ``machine`` says), else a human.
    ``talk_time`` is a fixed number of seconds or a ``(min, max)`` range drawn uniformly. ``seed``
    seeds the simulator's random generator (None: unseeded), so the same rules and the same
    sequence of calls give the same outcomes.

    Caller scripts (played by the voiced callee, :mod:`devstack.carrier_sim.caller_voice`; step format in
    :mod:`devstack.carrier_sim.scripts`): ``scripts`` maps a To number to the script its calls play, ``script`` is the
    script of every other number (None: the built-in default script).

    ``final_callback_delay`` orders the end of a call with a ``<Connect><Stream>``: its final status
    callback goes this many seconds after the media stream's ``stop`` (real carriers report status
    after the stream ends); a negative value sends the callback first and stops the stream that many
    seconds later. 0 (the default): the stream's ``stop``, then the callback at once.
    """

    outcomes: OutcomeProbabilities = field(default_factory=OutcomeProbabilities)
    answer_delay: float = 0.5
    talk_time: float | tuple[float, float] = 1.0
    number_rules: bool = True
    from_rules: dict[str, OutcomeProbabilities] = field(default_factory=dict)
    seed: int | None = 0
    script: list[dict[str, Any]] | None = None
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    final_callback_delay: float = 0.0
    answered_by: dict[str, str] = field(default_factory=dict)
    machine: MachineRules = field(default_factory=MachineRules)

    def validate(self) -> None:
        """Raise :class:`RulesError` for unusable rules."""
        self.outcomes.validate()
        self.machine.validate()
        for to, answerer in self.answered_by.items():
            if not E164.match(to):
                raise RulesError(f"answered_by key {to!r} is not an E.164 number")
            if answerer not in ANSWERERS:
                raise RulesError(f"answered_by for {to} must be human or machine, got {answerer!r}")
        for number, script in ((None, self.script), *self.scripts.items()):
            if number is not None and not E164.match(number):
                raise RulesError(f"scripts key {number!r} is not an E.164 number")
            if script is not None:
                try:
                    parse_script(script)
                except ScriptError as exc:
                    raise RulesError(f"script{'' if number is None else ' for ' + number}: {exc}") from exc
        for number, probs in self.from_rules.items():
            if not E164.match(number):
                raise RulesError(f"from_rules key {number!r} is not an E.164 number")
            probs.validate()
        if not isinstance(self.answer_delay, (int, float)) or self.answer_delay < 0:
            raise RulesError("answer_delay must be a number of seconds >= 0")
        low, high = self.talk_time_range()
        if low < 0 or high < low:
            raise RulesError("talk_time must be seconds >= 0, or [min, max] with 0 <= min <= max")
        delay = self.final_callback_delay
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not abs(delay) <= MAX_CALLBACK_DELAY:
            raise RulesError(f"final_callback_delay must be seconds between -{MAX_CALLBACK_DELAY:g} and "
                             f"{MAX_CALLBACK_DELAY:g}")

    def talk_time_range(self) -> tuple[float, float]:
        """``talk_time`` as a ``(min, max)`` pair."""
        if isinstance(self.talk_time, (int, float)):
            return float(self.talk_time), float(self.talk_time)
        low, high = self.talk_time
        return float(low), float(high)

    def outcome_for(self, to: str, from_: str, rng: random.Random) -> str:
        """The outcome of a call from ``from_`` to ``to``, by the precedence described above."""
        if self.number_rules and to[-1:] in NUMBER_RULES:
            return NUMBER_RULES[to[-1]]
        return self.from_rules.get(from_, self.outcomes).draw(rng)

    def answerer_for(self, to: str) -> str:
        """Who answers calls to ``to`` if they are answered: ``human`` or ``machine``."""
        if to in self.answered_by:
            return self.answered_by[to]
        return "machine" if self.number_rules and to.endswith(MACHINE_DIGIT) else "human"

    def script_for(self, to: str) -> list[dict[str, Any]] | None:
        """The caller script for calls to ``to`` (None: the default script)."""
        return self.scripts.get(to, self.script)

    def draw_talk_time(self, rng: random.Random) -> float:
        """How long an answered call lasts before the callee hangs up."""
        low, high = self.talk_time_range()
        return low if low == high else rng.uniform(low, high)

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by ``GET/PUT /sim/rules``."""
        low, high = self.talk_time_range()
        data: dict[str, Any] = {
            "outcomes": self.outcomes.to_json(),
            "answer_delay": self.answer_delay,
            "talk_time": low if low == high else [low, high],
            "number_rules": self.number_rules,
            "from_rules": {number: probs.to_json() for number, probs in self.from_rules.items()},
            "seed": self.seed,
        }
        if self.script is not None:  # caller scripts and a callback delay appear only when set
            data["script"] = self.script
        if self.scripts:
            data["scripts"] = dict(self.scripts)
        if self.final_callback_delay:
            data["final_callback_delay"] = self.final_callback_delay
        if self.answered_by:  # like the scripts: shown only when set
            data["answered_by"] = dict(self.answered_by)
        if self.machine != MachineRules():
            data["machine"] = self.machine.to_json()
        return data

    @classmethod
    def from_json(cls, data: Any) -> SimRules:
        """Parse the JSON form; keys left out take their defaults (a PUT replaces all rules)."""
        if not isinstance(data, Mapping):
            raise RulesError("rules must be a JSON object")
        unknown = set(data) - {"outcomes", "answer_delay", "talk_time", "number_rules", "from_rules", "seed",
                               "script", "scripts", "final_callback_delay", "answered_by", "machine"}
        if unknown:
            raise RulesError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        talk = data.get("talk_time", 1.0)
        if isinstance(talk, list):
            if len(talk) != 2 or not all(isinstance(v, (int, float)) for v in talk):
                raise RulesError("talk_time range must be [min, max]")
            talk = (float(talk[0]), float(talk[1]))
        elif not isinstance(talk, (int, float)) or isinstance(talk, bool):
            raise RulesError("talk_time must be a number or [min, max]")
        from_rules = data.get("from_rules", {})
        if not isinstance(from_rules, Mapping):
            raise RulesError("from_rules must map From numbers to outcome probabilities")
        seed = data.get("seed", 0)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise RulesError("seed must be an integer or null")
        scripts = data.get("scripts") or {}
        if not isinstance(scripts, Mapping):
            raise RulesError("scripts must map To numbers to caller scripts")
        answered_by = data.get("answered_by") or {}
        if not isinstance(answered_by, Mapping):
            raise RulesError("answered_by must map To numbers to human or machine")
        script = data.get("script")
        if script is not None and not isinstance(script, list):
            raise RulesError("script must be a list of steps or null")
        rules = cls(
            outcomes=OutcomeProbabilities.from_json(data.get("outcomes", {})),
            answer_delay=data.get("answer_delay", 0.5),
            talk_time=talk,
            number_rules=bool(data.get("number_rules", True)),
            from_rules={str(k): OutcomeProbabilities.from_json(v) for k, v in from_rules.items()},
            seed=seed,
            script=script,
            scripts={str(k): v for k, v in scripts.items()},
            final_callback_delay=data.get("final_callback_delay", 0.0),
            answered_by={str(k): v for k, v in answered_by.items()},
            machine=MachineRules.from_json(data.get("machine", {})),
        )
        rules.validate()
        return rules
