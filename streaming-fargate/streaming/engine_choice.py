"""Which engines serve an agent: its ``transcriber``, ``model`` and ``voice`` choices, else the defaults."""
from __future__ import annotations

from dataclasses import dataclass, field

from streaming.engines.registry import EngineRegistry
from streaming.pipeline.prompt import AgentProfile
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

    def to_json(self) -> dict[str, object]:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts, "vad": self.vad, "notes": self.notes}


def choose(profile: AgentProfile, registry: EngineRegistry, settings: StreamingSettings) -> EngineChoice:
    notes: list[str] = []

    def pick(kind: str, wanted: str | None, default: str) -> str:
        if not wanted:
            return default
        if wanted in registry.names(kind):  # type: ignore[arg-type]
            return wanted
        notes.append(f"{kind} engine {wanted!r} is not available here; used {default!r}")
        return default

    llm_wanted = profile.llm
    if llm_wanted and llm_wanted.startswith(BEDROCK_PREFIXES):
        profile.llm_model, llm_wanted = llm_wanted, "bedrock"
    return EngineChoice(stt=pick("stt", profile.stt, settings.stt_default),
                        llm=pick("llm", llm_wanted, settings.llm_default),
                        tts=pick("tts", profile.tts, settings.tts_default), vad=settings.vad, notes=notes)


def build(choice: EngineChoice, registry: EngineRegistry) -> SessionEngines:
    """Blocking (may load models on first use): call from a worker thread."""
    return SessionEngines(vad=registry.vad(choice.vad), stt=registry.stt(choice.stt),
                          llm=registry.llm(choice.llm), tts=registry.tts(choice.tts))
