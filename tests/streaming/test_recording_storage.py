"""The call recording: memory bounded whatever the call's length, the stored WAV exactly the stereo call."""
from __future__ import annotations

import hashlib
import io
import tracemalloc
import wave

import boto3
import numpy as np

from chalicelib import recordings
from streaming.audio import mulaw_to_pcm16
from streaming.pipeline.recorder import StereoRecorder

FRAME = 160  # 20 ms of 8 kHz mu-law


CALLER_FRAMES = [bytes((index + k) % 256 for k in range(FRAME)) for index in range(251)]
AGENT_FRAMES = [bytes((3 * index + k) % 256 for k in range(FRAME)) for index in range(241)]
# The recorder takes the call core's PCM16 (it keeps mu-law inside): the frames above, decoded.
CALLER_PCM = [mulaw_to_pcm16(frame) for frame in CALLER_FRAMES]
AGENT_PCM = [mulaw_to_pcm16(frame) for frame in AGENT_FRAMES]


def caller_frame(index: int) -> bytes:
    return CALLER_FRAMES[index % len(CALLER_FRAMES)]


def agent_frame(index: int) -> bytes:
    return AGENT_FRAMES[index % len(AGENT_FRAMES)]


def record(recorder: StereoRecorder, seconds: int) -> None:
    """``seconds`` of caller audio; the agent speaks every other second."""
    for index in range(seconds * 50):
        recorder.caller_frame(CALLER_PCM[index % len(CALLER_PCM)])
        if (index // 50) % 2:
            recorder.agent_frame(AGENT_PCM[index % len(AGENT_PCM)], at=recorder.t0 + index * 0.02)


def expected_wav_frames(seconds: int) -> bytes:
    """The interleaved PCM16 the recording of ``record(seconds)`` must hold, computed independently."""
    samples = seconds * 8000
    left = np.frombuffer(mulaw_to_pcm16(b"".join(caller_frame(i) for i in range(seconds * 50))), dtype="<i2")
    agent = bytearray(b"\xff" * samples)
    for index in range(seconds * 50):
        if (index // 50) % 2:
            agent[index * FRAME:(index + 1) * FRAME] = agent_frame(index)
    right = np.frombuffer(mulaw_to_pcm16(bytes(agent)), dtype="<i2")
    stereo = np.empty(2 * samples, dtype="<i2")
    stereo[0::2], stereo[1::2] = left, right
    return stereo.tobytes()


def test_recorder_memory_does_not_grow_with_the_call_length() -> None:
    recorder = StereoRecorder(t0=100.0)
    tracemalloc.start()
    try:
        record(recorder, 60)
        after_one_minute, _ = tracemalloc.get_traced_memory()
        for index in range(60 * 50, 660 * 50):  # ten more minutes: 9.6 MB of mu-law if it were kept in memory
            recorder.caller_frame(CALLER_PCM[index % len(CALLER_PCM)])
        after_eleven_minutes, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recorder.duration_s == 660
    assert after_eleven_minutes - after_one_minute < 512 * 1024
    recorder.close()


def test_the_wav_is_read_back_a_chunk_at_a_time() -> None:
    recorder = StereoRecorder(t0=100.0)
    record(recorder, 660)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        stream = recorder.wav_stream()
        read = 0
        while chunk := stream.read(1024 * 1024):
            read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        recorder.close()
    assert read == 44 + 660 * 8000 * 4  # a 21 MB WAV...
    assert peak - before < 4 * 1024 * 1024  # ...never whole in memory


def test_the_wav_stream_is_the_stereo_call_caller_left_agent_right() -> None:
    recorder = StereoRecorder(t0=5.0)
    record(recorder, 4)
    try:
        data = recorder.wav_stream().read()
    finally:
        recorder.close()
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert wav.getnframes() == 4 * 8000
        assert wav.readframes(wav.getnframes()) == expected_wav_frames(4)


def test_a_long_recording_is_stored_in_parts_and_reads_back_whole(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=recordings.bucket_name())
    seconds = 300  # 9.6 MB of WAV: past the multipart threshold
    recorder = StereoRecorder(t0=0.0)
    record(recorder, seconds)
    try:
        stored = recordings.store(3, 44, recorder.wav_stream(), {"turns": []}, client=s3)
    finally:
        recorder.close()
    head = s3.head_object(Bucket=stored["bucket"], Key=stored["key"])
    assert head["ContentType"] == "audio/wav"
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    body = s3.get_object(Bucket=stored["bucket"], Key=stored["key"])["Body"].read()
    with wave.open(io.BytesIO(body)) as wav:
        frames = wav.readframes(wav.getnframes())
    assert hashlib.sha256(frames).digest() == hashlib.sha256(expected_wav_frames(seconds)).digest()


def test_a_recording_given_as_bytes_is_stored_as_is(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=recordings.bucket_name())
    stored = recordings.store(3, 45, b"RIFF....WAVE", {"turns": []}, client=s3)
    assert s3.get_object(Bucket=stored["bucket"], Key=stored["key"])["Body"].read() == b"RIFF....WAVE"
