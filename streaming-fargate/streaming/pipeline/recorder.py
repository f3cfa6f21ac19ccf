"""Stereo call recording: caller on the left channel, agent on the right, at the call's media rate.

Frames come in as the call core's PCM16 (8 kHz for a phone call, 16 kHz for a web call). Both tracks
are kept as mu-law (one byte per sample, a lossless round trip for telephony audio) in time order: caller frames arrive
continuously; agent frames are placed at the time they were sent, silence in between. Each track is
spooled: the first ``SPOOL_MEMORY_BYTES`` stay in memory, the rest goes to an unnamed temporary file,
so a call's memory does not grow with its length (a 4 h call is ~115 MB per track on disk).

:meth:`StereoRecorder.wav_stream` reads the recording back as a 16-bit PCM WAV file, converted a
chunk at a time, for an upload that never holds the whole file (S3 multipart). :meth:`close`
releases the spools once the recording is stored.
"""
from __future__ import annotations

import io
import struct
import tempfile
from typing import IO

import numpy as np

from streaming.audio import mulaw_to_pcm16, pcm16_to_mulaw

RATE = 8000  # the default: telephony
MULAW_SILENCE = b"\xff"
SPOOL_MEMORY_BYTES = 256 * 1024
"""Per track, what stays in memory before the spool moves to disk (~33 s of audio)."""
PENDING_PCM_BYTES = 16 * 1024
"""PCM16 a track holds before encoding it (a second at 8 kHz, half a second at 16 kHz)."""
CHUNK_SAMPLES = 64 * 1024
"""Samples converted per step when reading the WAV back (256 KiB of stereo PCM)."""


class _Track:
    """One channel's mu-law bytes, appended in order, readable back at any offset.

    PCM16 comes in a 20 ms frame at a time and is encoded a second at a time (:data:`PENDING_PCM_BYTES`):
    one table lookup per second of audio instead of one per frame, on the service's hottest path."""

    def __init__(self) -> None:
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - owned, closed by close()
        self._spooled = 0
        self._pending = bytearray()  # PCM16 not encoded yet

    @property
    def length(self) -> int:
        """Samples in the track."""
        return self._spooled + len(self._pending) // 2

    def append_pcm(self, pcm16: bytes) -> None:
        self._pending += pcm16
        if len(self._pending) >= PENDING_PCM_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._write(pcm16_to_mulaw(bytes(self._pending)))
            self._pending.clear()

    def _write(self, mulaw: bytes) -> None:
        self._spool.write(mulaw)
        self._spooled += len(mulaw)

    def pad_to(self, length: int) -> None:
        """Silence up to ``length`` samples, written a chunk at a time."""
        self.flush()
        while self._spooled < length:
            self._write(MULAW_SILENCE * min(length - self._spooled, CHUNK_SAMPLES))

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` mu-law bytes from ``offset`` (fewer at the end of the track)."""
        self.flush()
        self._spool.seek(offset)
        data = self._spool.read(size)
        self._spool.seek(0, io.SEEK_END)
        return data

    def close(self) -> None:
        self._spool.close()


class StereoRecorder:
    def __init__(self, t0: float, max_seconds: int = 4 * 3600, rate: int = RATE) -> None:
        self.t0 = t0
        self.rate = rate
        self.caller = _Track()
        self.agent = _Track()
        self.max_bytes = max_seconds * rate
        self._frame_samples = rate // 50

    def caller_frame(self, pcm16: bytes) -> None:
        if self.caller.length < self.max_bytes:
            self.caller.append_pcm(pcm16)

    def agent_frame(self, pcm16: bytes, at: float) -> None:
        position = int((at - self.t0) * self.rate)
        position -= position % self._frame_samples
        position = min(position, self.max_bytes)
        if position > self.agent.length:
            self.agent.pad_to(position)
        if self.agent.length < self.max_bytes:
            self.agent.append_pcm(pcm16)

    @property
    def samples(self) -> int:
        return max(self.caller.length, self.agent.length)

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate

    def wav_stream(self) -> io.BufferedReader:
        """The recording as a WAV file to read (once, front to back) while the recorder is open.

        Buffered: a ``read(n)`` returns ``n`` bytes until the end, as S3's managed upload expects of its parts.
        """
        return io.BufferedReader(WavStream(self.caller, self.agent, self.samples, self.rate),
                                 buffer_size=CHUNK_SAMPLES * 4)

    def close(self) -> None:
        """Release the spooled audio (the recording cannot be read afterwards)."""
        self.caller.close()
        self.agent.close()


def wav_header(samples: int, channels: int = 2, rate: int = RATE) -> bytes:
    """The 44-byte RIFF header of a 16-bit PCM WAV holding ``samples`` frames."""
    data_bytes = samples * channels * 2
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, rate,
                       rate * channels * 2, channels * 2, 16, b"data", data_bytes)


class WavStream(io.RawIOBase):
    """A readable, non-seekable WAV file produced from the two mu-law tracks a chunk at a time."""

    def __init__(self, caller: _Track, agent: _Track, samples: int, rate: int = RATE) -> None:
        super().__init__()
        self._caller, self._agent = caller, agent
        self._samples = samples
        self._next_sample = 0
        self._pending = memoryview(wav_header(samples, rate=rate))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # io.RawIOBase's readinto takes a wider buffer type
        if not self._pending and self._next_sample < self._samples:
            self._pending = memoryview(self._convert_next_chunk())
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _convert_next_chunk(self) -> bytes:
        start = self._next_sample
        size = min(CHUNK_SAMPLES, self._samples - start)
        self._next_sample += size
        stereo = np.empty(2 * size, dtype=np.int16)
        for channel, track in enumerate((self._caller, self._agent)):
            mulaw = track.read(start, size).ljust(size, MULAW_SILENCE)
            stereo[channel::2] = np.frombuffer(mulaw_to_pcm16(mulaw), dtype=np.int16)
        return stereo.astype("<i2").tobytes()
