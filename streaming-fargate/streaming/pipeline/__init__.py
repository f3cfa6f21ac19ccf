"""The voice pipeline: frames and the processors that pass them (VAD, turns, STT, LLM, TTS, output)."""
