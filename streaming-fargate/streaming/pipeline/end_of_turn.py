"""The end-of-turn judge: at a short pause, is the caller done (answer now) or mid-sentence (wait longer)?

Two signals, both already at hand at the pause:

- the audio: a :class:`~streaming.engines.base.TurnEndEngine` (Smart Turn v3.2) scores the turn's last
  seconds for a finished-sounding ending (intonation, wording);
- the words: the draft's transcript (a batch STT transcribes at the pause to draft the reply). A turn whose
  last word only makes sense followed by more ("I'd like to book a table for", "my name is") is unfinished
  whatever its intonation.

The verdict:

- ``incomplete``: the last word continues the sentence, the transcript trails off ("..."), or the audio score
  is below ``low``: the turn ends
  after ``incomplete_ms`` of silence (the caller is probably thinking), unless they go on first;
- ``complete``: the audio score is at least ``high``: the turn ends now, ~100-200 ms after the last word
  (the transcript's punctuation is no signal: Whisper ends a fragment with "?" as readily as a question);
- ``unsure``: otherwise: the agent's own ``silence_timeout_ms`` ends it, as without a judge.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["complete", "incomplete", "unsure"]

# Words after which an English turn hardly ever ends: articles, prepositions, conjunctions, possessives, contracted
# subjects and hesitations. Conservative on purpose ("thank you", "can I pay with it", "yes I do" end on pronouns
# and auxiliaries): a word missing here only means the audio decides alone.
CONTINUATION_WORDS = frozenset((
    "a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "these", "those", "every", "each",
    "to", "for", "of", "in", "at", "by", "with", "from", "into", "about", "than", "between", "without",
    "and", "or", "but", "because", "if", "although", "though", "whether",
    "i'm", "i'd", "i'll", "you're", "we're", "they're", "um", "uh", "er", "erm",
))
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class JudgeConfig:
    high: float = 0.7  # audio score at or above: complete
    low: float = 0.15  # audio score below: incomplete
    incomplete_ms: int = 900  # silence that ends a turn judged unfinished (covers 300-600 ms thinking pauses)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    probability: float | None  # the audio model's score (None: no audio judge)
    reason: str


def last_word(text: str) -> str:
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return words[-1] if words else ""


def judge(probability: float | None, transcript: str, config: JudgeConfig = JudgeConfig()) -> Verdict:
    """The verdict on a paused turn from the audio score (``None``: not available) and its transcript so far
    (``""``: not available)."""
    text = transcript.strip()
    if text and last_word(text) in CONTINUATION_WORDS:
        return Verdict("incomplete", probability, f"ends with {last_word(text)!r}")
    if text.endswith(("...", "\u2026", "-", "\u2014")):
        return Verdict("incomplete", probability, "trails off")
    if probability is None:
        return Verdict("unsure", None, "no audio judge")
    if probability >= config.high:
        return Verdict("complete", probability, "sounds finished")
    if probability < config.low:
        return Verdict("incomplete", probability, "sounds unfinished")
    return Verdict("unsure", probability, "undecided")
