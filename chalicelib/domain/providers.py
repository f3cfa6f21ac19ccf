"""The speech and language engines this deployment offers (what agents may name)."""
from __future__ import annotations

from typing import Any

STT: tuple[dict[str, Any], ...] = (
    {"name": "whisper", "display_name": "faster-whisper tiny.en (local)", "runtime": "local",
     "streaming": False, "default": True},
    {"name": "pocketsphinx", "display_name": "PocketSphinx en-us (local, streaming)", "runtime": "local",
     "streaming": True, "default": False},
    {"name": "amazon_transcribe", "display_name": "Amazon Transcribe streaming", "runtime": "aws",
     "streaming": True, "default": False},
)
LLM: tuple[dict[str, Any], ...] = (
    {"name": "qwen2.5-coder-0.5b", "display_name": "Qwen2.5-Coder 0.5B Instruct Q4_K_M via llama.cpp (local)",
     "runtime": "local", "default": True},
    {"name": "smollm2-135m", "display_name": "SmolLM2 135M Q4 via llama.cpp (local)", "runtime": "local",
     "default": False},
    {"name": "bedrock", "display_name": "Amazon Bedrock ConverseStream (model id in model.model)",
     "runtime": "aws", "default": False},
)
TTS: tuple[dict[str, Any], ...] = (
    {"name": "piper", "display_name": "Piper (local)", "runtime": "local", "default": True},
    {"name": "polly", "display_name": "Amazon Polly (neural)", "runtime": "aws", "default": False},
)
VOICES: tuple[dict[str, Any], ...] = (
    {"id": 1, "provider": "piper", "voice_id": "en_US-joe-medium", "name": "Joe", "language": "en-US",
     "gender": "male", "accent": "american", "sample_rate": 22050},
    {"id": 2, "provider": "polly", "voice_id": "Joanna", "name": "Joanna", "language": "en-US",
     "gender": "female", "accent": "american", "sample_rate": 16000},
    {"id": 3, "provider": "polly", "voice_id": "Matthew", "name": "Matthew", "language": "en-US",
     "gender": "male", "accent": "american", "sample_rate": 16000},
    {"id": 4, "provider": "polly", "voice_id": "Amy", "name": "Amy", "language": "en-GB",
     "gender": "female", "accent": "british", "sample_rate": 16000},
)


def services() -> list[dict[str, Any]]:
    return ([{**s, "type": "stt"} for s in STT] + [{**s, "type": "llm"} for s in LLM]
            + [{**s, "type": "tts"} for s in TTS])
