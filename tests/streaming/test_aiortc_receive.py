"""The server's WebRTC receivers release each caller audio frame as soon as the next one starts."""
from __future__ import annotations

from aiortc import jitterbuffer, rtcrtpreceiver
from aiortc.rtp import RtpPacket

from streaming.transports.aiortc_receive import release_frames_at_once


def packet(sequence: int) -> RtpPacket:
    rtp = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * sequence)
    rtp._data = b"opus"  # the depacketized payload, which aiortc's receiver sets before the jitter buffer reads it
    return rtp


def frames_released(buffer: object, count: int) -> list[int | None]:
    released = []
    for sequence in range(count):
        _, frame = buffer.add(packet(sequence))  # type: ignore[attr-defined]
        released.append(None if frame is None else frame.timestamp // 960)
    return released


def test_audio_frames_leave_the_receiver_one_frame_after_they_arrive_not_four() -> None:
    stock = jitterbuffer.JitterBuffer(capacity=16, prefetch=4)
    assert frames_released(stock, 6) == [None, None, None, None, 0, 1]  # aiortc's own: until four more are queued
    release_frames_at_once()
    prompt = rtcrtpreceiver.JitterBuffer(capacity=16, prefetch=4)  # what RTCRtpReceiver asks for audio
    assert frames_released(prompt, 6) == [None, 0, 1, 2, 3, 4]
    video = rtcrtpreceiver.JitterBuffer(capacity=128, prefetch=4, is_video=True)
    assert frames_released(video, 6) == [None, None, None, None, 0, 1]  # video keeps its prefetch
