"""The streaming service's configuration, read once from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass

from streaming.engines.llama_models import DEFAULT_LOCAL_LLM


@dataclass(frozen=True)
class StreamingSettings:
    stt_default: str = "whisper"
    llm_default: str = DEFAULT_LOCAL_LLM
    tts_default: str = "piper"
    vad: str = "silero"
    turn_model: str = "smart-turn-v3"  # semantic end of turn; "none": the silence timeout alone ends turns
    start_timeout_s: float = 10.0  # a stream must say ``start`` within this
    drain_timeout_s: float = 110.0  # on SIGTERM, live calls get this long to finish
    max_call_s: float = 4 * 3600.0
    heartbeat_s: float = 20.0  # WebSocket ping; the ALB idle timeout (120 s) is well above it
    metrics_interval_s: float = 10.0
    preload: bool = True  # load the default engines before accepting calls
    analysis_timeout_s: float = 60.0  # post-call analysis; past it the call is announced without it
    max_streams: int = 150  # open media streams per task; past it new ones get 503 before the upgrade
    idle_timeout_s: float = 30.0  # an admitted stream with no media this long is closed (1008)
    max_audio_rate: float = 1.5  # caller audio faster than this times real time is closed (1008)...
    audio_rate_window_s: float = 10.0  # ...measured over windows of this length
    max_web_calls: int = 16  # WebRTC calls per task (each costs ~4x a Twilio stream's CPU: Opus, SRTP in Python)
    web_playout_delay_s: float = 0.1  # WebRTC: sent audio is heard about this much later (network + jitter buffer)
    web_negotiation_timeout_s: float = 10.0  # WebRTC: an offer must be answered (ICE gathered) within this
    # WhatsApp, PARLEY_WHATSAPP_RING_TIMEOUT_S: an offer made to WhatsApp (a business-initiated call) waits this long
    # for the user's answer, then is dropped (docs/whatsapp-calls.md section 5). WhatsApp calls count as web calls.
    whatsapp_ring_timeout_s: float = 60.0

    @classmethod
    def from_env(cls) -> StreamingSettings:
        env = os.environ.get
        return cls(
            stt_default=env("PARLEY_STT_DEFAULT", cls.stt_default),
            llm_default=env("PARLEY_LLM_DEFAULT") or env("PARLEY_LLM_GGUF") or cls.llm_default,
            tts_default=env("PARLEY_TTS_DEFAULT", cls.tts_default),
            vad=env("PARLEY_VAD", cls.vad),
            turn_model=env("PARLEY_TURN_MODEL", cls.turn_model),
            drain_timeout_s=float(env("PARLEY_DRAIN_TIMEOUT_S", str(cls.drain_timeout_s))),
            preload=env("PARLEY_PRELOAD_ENGINES", "1") != "0",
            analysis_timeout_s=float(env("PARLEY_ANALYSIS_TIMEOUT_S", str(cls.analysis_timeout_s))),
            max_streams=int(env("PARLEY_MAX_STREAMS", str(cls.max_streams))),
            idle_timeout_s=float(env("PARLEY_STREAM_IDLE_TIMEOUT_S", str(cls.idle_timeout_s))),
            max_audio_rate=float(env("PARLEY_MAX_AUDIO_RATE", str(cls.max_audio_rate))),
            audio_rate_window_s=float(env("PARLEY_AUDIO_RATE_WINDOW_S", str(cls.audio_rate_window_s))),
            max_web_calls=int(env("PARLEY_MAX_WEB_CALLS", str(cls.max_web_calls))),
            web_playout_delay_s=float(env("PARLEY_WEB_PLAYOUT_DELAY_S", str(cls.web_playout_delay_s))),
            whatsapp_ring_timeout_s=float(env("PARLEY_WHATSAPP_RING_TIMEOUT_S", str(cls.whatsapp_ring_timeout_s))),
        )


def stream_token_secret() -> str:
    """The secret that signs stream tokens (env, or Secrets Manager by ARN in AWS)."""
    from chalicelib.telephony.twilio import TwilioConfig

    return TwilioConfig.from_env().stream_token_secret
