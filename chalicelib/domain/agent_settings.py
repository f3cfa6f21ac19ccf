"""An agent's settings: the typed model of ``Agent.config``, and the defaults the voice pipeline applies.

The HTTP API validates create/update bodies with these same section classes
(``chalicelib.schemas.agents`` builds ``AgentCreate``/``AgentUpdate``/``AgentOut`` from them), and the
streaming service reads a stored config with :meth:`AgentSettings.from_stored`. Unset settings stay
``None`` in the model (so the API answers what the caller sent); the effective values, defaults
included, are the properties of :class:`AgentSettings`, and nowhere else.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from chalicelib.domain.fields import Flag, LongText, Section, Strict, Timezone
from chalicelib.domain.origins import MAX_ORIGIN_LENGTH, MAX_ORIGINS, normalize_origin
from chalicelib.domain.web_search import DEFAULT_SEARCH_PROVIDER, SEARCH_PROVIDERS, known_provider
from chalicelib.observability import logger

DEFAULT_SILENCE_TIMEOUT_MS = 500  # the caller's end of turn: this much silence
DEFAULT_LANGUAGE = "en-US"
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 160  # a spoken reply is one or two sentences
DEFAULT_SPEECH_SPEED = 1.0
DEFAULT_INTERRUPTIONS = True  # the caller may talk over the agent
DEFAULT_END_CALL_CONDITION = "the conversation is finished or the caller says goodbye"
_MAX_REPAIRS = 100  # fields a stored config may have wrong before it is given up on

Temperature = Annotated[float, Field(ge=0, le=2)]
Provider = Annotated[str, Field(min_length=1, max_length=64)]


class ContextBlock(Strict):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    body: LongText
    is_enabled: Flag = True


class Transcriber(Section):
    provider: Provider | None = None
    silence_timeout_ms: Annotated[int, Field(ge=100, le=10_000)] | None = None
    should_apply_noise_reduction: Flag | None = None
    language: Annotated[str, Field(min_length=2, max_length=16)] | None = None


class LlmModel(Section):
    model: Provider | None = None
    temperature: Temperature | None = None
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = None


class Voice(Section):
    provider: Provider | None = None
    voice_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    speech_speed: Annotated[float, Field(ge=0.25, le=4)] | None = None


SearchProvider = Annotated[str, Field(min_length=1, max_length=64, description=(
    f"One of {', '.join(SEARCH_PROVIDERS)} (any case). Tavily and Exa use the account's API key "
    "(PUT /web_search/credentials).")), AfterValidator(known_provider)]


class WebSearch(Section):
    enabled: Flag = False
    provider: SearchProvider = DEFAULT_SEARCH_PROVIDER


class Filler(Section):
    enabled: Flag = False
    after_sec: Annotated[float, Field(ge=0, le=30)] | None = None


class BackgroundTrack(Section):
    enabled: Flag = False
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    volume: Annotated[float, Field(ge=0, le=1)] = 0.2


class Voicemail(Section):
    enabled: Flag = False
    message: Annotated[str, Field(max_length=2000)] | None = None


class EndCall(Section):
    enabled: Flag = False
    condition: Annotated[str, Field(max_length=2000)] | None = None
    message: Annotated[str, Field(max_length=2000)] | None = None


def _distinct(origins: list[str]) -> list[str]:
    return list(dict.fromkeys(origins))


Origin = Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN_LENGTH,
                              examples=["https://www.example.com", "http://127.0.0.1:8600"]),
                   AfterValidator(normalize_origin)]


class WebWidget(Section):
    """The agent's browser widget: web calls started from these pages with the agent's public key.

    The public key itself is issued by the API (``AgentOut.web_widget.public_key``) and is not a setting.
    """

    enabled: Flag = False
    allowed_origins: Annotated[list[Origin], Field(max_length=MAX_ORIGINS, description=(
        "Pages that may start calls with the public key, as scheme://host[:port] (http or https, no path). "
        "The browser's Origin header must be one of them."
    )), AfterValidator(_distinct)] = Field(default_factory=list)


class AgentFields(Strict):
    """Everything an agent is, except its name and prompt (shared by create and update)."""

    welcome_message: Annotated[str, Field(max_length=2000)] | None = None
    call_type: Literal["Incoming", "Outgoing"] | None = None
    is_interruption_allowed: Flag | None = None
    is_welcome_message_dynamic: Flag | None = None
    is_welcome_message_interruption: Flag | None = None
    transcriber: Transcriber | None = None
    model: LlmModel | None = None
    voice: Voice | None = None
    web_search: WebSearch | None = None
    filler: Filler | None = None
    background_track: BackgroundTrack | None = None
    voicemail: Voicemail | None = None
    end_call: EndCall | None = None
    timezone: Timezone | None = None
    web_widget: WebWidget | None = None


class AgentSettings(AgentFields):
    """An agent's stored configuration (``Agent.config``): its fields and its prompt."""

    context_breakdown: list[ContextBlock] = Field(default_factory=list)

    @classmethod
    def from_stored(cls, config: Mapping[str, Any]) -> AgentSettings:
        """Read a stored config leniently: what is unknown (an older or newer agent) or no longer valid is
        left out, with a warning naming the fields, so a call never fails on how its agent was saved."""
        data: Any = copy.deepcopy(dict(config))
        dropped: list[str] = []
        for _ in range(_MAX_REPAIRS):
            try:
                settings = cls.model_validate(data, strict=False)
            except ValidationError as error:
                loc = error.errors()[0]["loc"]  # one at a time: dropping a list item shifts the others
                if not _drop(data, loc):
                    break
                dropped.append(".".join(str(part) for part in loc))
                continue
            if dropped:
                logger.warning("agent settings: stored fields ignored", extra={"fields": sorted(set(dropped))})
            return settings
        logger.warning("agent settings: stored config unreadable; defaults used")
        return cls()

    # The effective values: the agent's choice, else the default.

    @property
    def interruptions(self) -> bool:
        allowed = self.is_interruption_allowed
        return DEFAULT_INTERRUPTIONS if allowed is None else allowed

    @property
    def welcome_interruptible(self) -> bool:
        allowed = self.is_welcome_message_interruption
        return self.interruptions if allowed is None else allowed

    @property
    def silence_timeout_ms(self) -> int:
        return (self.transcriber and self.transcriber.silence_timeout_ms) or DEFAULT_SILENCE_TIMEOUT_MS

    @property
    def language(self) -> str:
        return (self.transcriber and self.transcriber.language) or DEFAULT_LANGUAGE

    @property
    def stt_provider(self) -> str | None:
        return self.transcriber.provider if self.transcriber else None

    @property
    def llm_name(self) -> str | None:
        """``model.model``: an engine name, or a model id the engine choice maps to its engine."""
        return self.model.model if self.model else None

    @property
    def temperature(self) -> float:
        chosen = self.model.temperature if self.model else None
        return DEFAULT_TEMPERATURE if chosen is None else chosen

    @property
    def max_tokens(self) -> int:
        return (self.model and self.model.max_tokens) or DEFAULT_MAX_TOKENS

    @property
    def tts_provider(self) -> str | None:
        return self.voice.provider if self.voice else None

    @property
    def voice_id(self) -> str | None:
        return self.voice.voice_id if self.voice else None

    @property
    def speech_speed(self) -> float:
        return (self.voice and self.voice.speech_speed) or DEFAULT_SPEECH_SPEED

    @property
    def widget_enabled(self) -> bool:
        return bool(self.web_widget and self.web_widget.enabled)

    @property
    def agent_ends_calls(self) -> bool:
        return bool(self.end_call and self.end_call.enabled)

    @property
    def end_call_condition(self) -> str:
        return (self.end_call and self.end_call.condition) or DEFAULT_END_CALL_CONDITION


def _drop(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove what a validation error points at: the list item it is inside, else the key (or, for a
    missing key, the object that lacks it). False when there is nothing left to remove."""
    parents: list[tuple[Any, int | str]] = []
    node = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            del node[part]
            return True
        if not isinstance(node, dict) or part not in node:
            break
        parents.append((node, part))
        node = node[part]
    else:
        if parents:
            container, key = parents[-1]
            del container[key]
            return True
        return False
    if parents:  # the error names a key that is not there (missing): drop its enclosing object
        container, key = parents[-1]
        del container[key]
        return True
    return False
