"""Which engines serve an agent: its ``transcriber``, ``model`` and ``voice`` choices, else the defaults."""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.agent_settings import AgentSettings
from streaming.engines.llama_models import ModelFileError
from streaming.engines.registry import EngineRegistry
from streaming.pipeline.session import SessionEngines
from streaming.settings import StreamingSettings

# Bedrock model ids an agent may name directly in ``model.model``.
BEDROCK_PREFIXES = ("amazon.", "anthropic.", "meta.", "mistral.", "cohere.", "ai21.", "us.", "eu.", "apac.")


@dataclass
class EngineChoice:
    stt: str
    llm: str
    tts: str
    vad: str
    notes: list[str] = field(default_factory=list)
    llm_model: str | None = None  # a model id the LLM engine is asked for (a Bedrock id); None: its default
    turn: str | None = None  # the semantic end-of-turn model; None: the silence timeout alone ends turns

    def to_json(self) -> dict[str, object]:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts, "vad": self.vad, "turn": self.turn,
                "notes": self.notes}


def choose(agent: AgentSettings, registry: EngineRegistry, settings: StreamingSettings) -> EngineChoice:
    notes: list[str] = []

    def pick(kind: str, wanted: str | None, default: str) -> str:
        if not wanted:
            return default
        try:
            if registry.offers(kind, wanted):  # type: ignore[arg-type]  # kind is one of the registry's Kind literals
                return wanted
        except ModelFileError as refused:  # a gguf path the registry will not load, and why
            notes.append(f"{kind} engine {wanted!r} is not available here ({refused.args[0]}); used {default!r}")
            return default
        notes.append(f"{kind} engine {wanted!r} is not available here; used {default!r}")
        return default

    llm_wanted, llm_model = agent.llm_name, None
    if llm_wanted and llm_wanted.startswith(BEDROCK_PREFIXES):
        llm_model, llm_wanted = llm_wanted, "bedrock"
    return EngineChoice(stt=pick("stt", agent.stt_provider, settings.stt_default),
                        llm=pick("llm", llm_wanted, settings.llm_default),
                        tts=pick("tts", agent.tts_provider, settings.tts_default), vad=settings.vad, notes=notes,
                        llm_model=llm_model, turn=turn_model(registry, settings, notes))


def turn_model(registry: EngineRegistry, settings: StreamingSettings, notes: list[str]) -> str | None:
    wanted = settings.turn_model
    if wanted == "none":
        return None
    if wanted in registry.names("turn"):
        return wanted
    notes.append(f"turn model {wanted!r} is not available here; turns end on silence alone")
    return None


def build(choice: EngineChoice, registry: EngineRegistry) -> SessionEngines:
    """Blocking (may load models on first use): call from a worker thread."""
    return SessionEngines(vad=registry.vad(choice.vad), stt=registry.stt(choice.stt),
                          llm=registry.llm(choice.llm), tts=registry.tts(choice.tts), llm_model=choice.llm_model,
                          turn=registry.turn(choice.turn) if choice.turn else None)
