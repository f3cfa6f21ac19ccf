"""Caller audio leaves aiortc's receiver as soon as each RTP frame is complete.

aiortc builds every audio receiver's jitter buffer with ``prefetch=4``: a frame is released only once four
more are queued, which smooths playback on a speaker. The streaming service never plays caller audio: it
feeds the turn detector and STT, which need each frame as early as it exists. The prefetch only delayed
every end of turn by ~80 ms (measured with instant engines: caller's last frame -> agent's first frame
747 -> 616 ms median, both sides without prefetch). :func:`release_frames_at_once` makes the audio
receivers of this process release a frame when the next one starts (reordering within the buffer's 16
packets still works; a lost packet is skipped as before).

aiortc exposes no setting for it, so the receiver module's ``JitterBuffer`` name is pointed at a subclass
that keeps the video behaviour and drops the audio prefetch. Checked against aiortc 1.16 by
``tests/streaming/test_aiortc_receive.py``.
"""
from __future__ import annotations

from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer


class PromptAudioJitterBuffer(JitterBuffer):
    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(capacity, prefetch if is_video else 0, is_video)


def release_frames_at_once() -> None:
    """Idempotent; affects receivers created afterwards."""
    rtcrtpreceiver.JitterBuffer = PromptAudioJitterBuffer  # type: ignore[misc]  # aiortc offers no setting (see above)
