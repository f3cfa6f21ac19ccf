"""The background tracks an agent's ``background_track`` may name: the API checks names against this list, and
the streaming service ships each track as ``streaming/assets/<name>.wav`` (a test checks every one is there)."""
from __future__ import annotations

BACKGROUND_TRACKS = ("office",)
DEFAULT_BACKGROUND_TRACK = "office"  # an enabled track without a name
