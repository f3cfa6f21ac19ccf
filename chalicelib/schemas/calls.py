"""Call bodies (``call.dispatch_call`` / ``get_call_logs`` / ``get_call_log``)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from chalicelib.schemas.common import CALL_STATUSES, E164, Id, Out, Page, Strict

CallStatus = Literal["queued", "ringing", "in_progress", "completed", "failed", "busy", "no_answer"]
Channel = Literal["phone", "web", "whatsapp"]
assert CallStatus.__args__ == CALL_STATUSES  # type: ignore[attr-defined]  # a Literal's members, read at run time


class Dispatch(Strict):
    agent_id: Id
    to_number: E164
    from_number_id: Id | None = None
    call_context: dict[str, Any] = Field(
        default_factory=dict, description="Variables for this call, e.g. {\"customer_name\": \"Ada\"}."
    )


class LogsQuery(Page):
    model_config = ConfigDict(extra="ignore", strict=False)
    agentid: Annotated[int, Field(ge=1, le=2**53 - 1)] | None = None
    call_status: CallStatus | None = None
    channel: Channel | None = Field(default=None, description="Only phone calls, web calls or WhatsApp calls.")
    cursor: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$",
                                 description="next_cursor of the previous page (then pageno is ignored); "
                                 "reaches every call, however deep.")] | None = None


class TranscriptTurn(Out):
    role: Literal["user", "agent"]
    text: str = Field(description="What was said; an interrupted agent turn keeps only what the caller heard.")
    start_s: float = Field(description="Seconds from the start of the media stream.")
    end_s: float | None = None
    interrupted: bool | None = None
    generated: str | None = Field(default=None, description="An interrupted agent turn: everything it meant to say.")
    source: Literal["speech", "dtmf", "welcome", "supervisor", "voicemail"] | None = None


class ToolCallMetric(Out):
    """A tool the agent's LLM called during the reply (``web_search``, ``end_call``)."""

    name: str
    query: str | None = Field(default=None, description="web_search: what was searched for.")
    started_ms: float | None = Field(default=None, description="When the call was made, from the end of speech.")
    latency_ms: float | None = Field(default=None, description="web_search: how long the search took.")
    results: int | None = Field(default=None, description="web_search: results found (null when it failed).")
    error: str | None = Field(default=None, description="web_search: why it failed (timeout, provider error).")
    filler_out_ms: float | None = Field(default=None, description="web_search: when the lookup filler (\"Let me "
                                        "look that up.\") was queued to play, from the end of speech.")


class TurnMetric(Out):
    """Milliseconds from the caller's end of speech to each stage of the reply."""

    turn: int
    silence_timeout_ms: int
    speculative: bool
    end_of_turn_ms: float | None = None
    end_of_turn_by: Literal["silence", "semantic"] = Field(default="silence", description=(
        "What ended the caller's turn: the silence timeout, or the end-of-turn judge finding it complete at a "
        "short pause (semantic)."))
    turn_probability: float | None = Field(default=None, description="The end-of-turn model's score (0..1) that "
                                           "the turn was complete, at the caller's pause.")
    stt_started_ms: float | None = None
    stt_final_ms: float | None = None
    llm_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    first_audio_out_ms: float | None = Field(default=None, description="The reply's own first audio (content).")
    filler_out_ms: float | None = Field(default=None, description="A filler said while the reply was slow "
                                        "(the agent's filler setting), if any.")
    engine_ms: dict[str, float] = Field(default_factory=dict)
    tool_calls: list[ToolCallMetric] = Field(default_factory=list, description="Tools the reply called, in order.")


class CallOut(Out):
    id: int
    agent_id: int
    to_number: str
    from_number_id: int | None = None
    call_status: CallStatus
    channel: Channel = Field(default="phone", description="phone: through a carrier; web: WebRTC from a browser "
                             "(to_number is empty); whatsapp: a WhatsApp voice call (details.whatsapp holds its "
                             "wacid and direction).")
    call_type: Literal["Incoming", "Outgoing"] = Field(default="Outgoing", description=(
        "Outgoing: placed by Parley; Incoming: a caller rang one of your numbers (to_number is that number, "
        "the caller is call_context.caller_number)."))
    call_context: dict[str, Any]
    details: dict[str, Any]
    transcript: list[TranscriptTurn] | None = None
    turn_metrics: list[TurnMetric] | None = None
    recording_url: str | None = Field(default=None, description="Stereo WAV (caller left, agent right); "
                                      "a presigned URL valid for one hour.")
    conversation: dict[str, Any] | None = Field(default=None, description="How the conversation went: "
                                                "ended_by, barge-in latencies, engines, errors, "
                                                "supervisor controls.")
    analysis: dict[str, Any] | None = Field(default=None, description="The post-call analysis once done: "
                                            "summary, sentiment, extracted_variables, errors.")
    created_at: datetime
    updated_at: datetime


class Dispatched(Out):
    status: str = "success"
    success: bool = True
    requestId: int
    call_id: int
    call_status: CallStatus
    message: str


class CallLogList(Out):
    status: str = "success"
    call_log_data: list[CallOut]
    total_records: int = Field(description="Matching calls, counted up to 10,000 (then total_records_capped).")
    total_records_capped: bool = Field(default=False, description="True when there are more calls than "
                                       "total_records (counting stops at 10,000).")
    pageno: int
    pagesize: int
    next_cursor: str | None = Field(default=None, description="Pass as cursor for the next page; null on the last.")
