"""Phrase aggregation: LLM tokens -> speakable phrases, so TTS can start before the reply is complete.

The first phrase of a reply is cut early (at a comma or after a few words) to get audio out fast;
later phrases end at sentence boundaries (or a word limit) so the voice keeps its prosody.
"""
from __future__ import annotations

import re

END_CALL_MARKER = "[END_CALL]"
_SENTENCE_END = re.compile(r"[.!?;:](?=\s)|\n")
_CLAUSE_END = re.compile(r"[,\u2014](?=\s)")
_MARKUP = re.compile(r"[*_#`>]+|\[[^\]]*\]\([^)]*\)")


class PhraseSplitter:
    def __init__(self, first_phrase_words: int = 4, max_words: int = 24) -> None:
        self.first_phrase_words = first_phrase_words
        self.max_words = max_words
        self._buffer = ""
        self._emitted = 0
        self.end_call = False

    def push(self, token: str) -> list[str]:
        self._buffer += token
        if END_CALL_MARKER in self._buffer:
            self.end_call = True
            self._buffer = self._buffer.replace(END_CALL_MARKER, " ")
        phrases: list[str] = []
        while True:
            cut = self._cut_point()
            if cut is None:
                return phrases
            phrase, self._buffer = self._buffer[:cut], self._buffer[cut:]
            cleaned = clean(phrase)
            if cleaned:
                phrases.append(cleaned)
                self._emitted += 1

    def flush(self) -> list[str]:
        rest, self._buffer = clean(self._buffer.replace(END_CALL_MARKER, " ")), ""
        if rest:
            self._emitted += 1
            return [rest]
        return []

    def _cut_point(self) -> int | None:
        if "[" in self._buffer[-len(END_CALL_MARKER):]:
            return None  # maybe the start of the end-call marker: wait for the next token
        match = _SENTENCE_END.search(self._buffer)
        if match and len(self._buffer[: match.end()].split()) >= 1:
            return match.end()
        words = self._buffer.split()
        if self._emitted == 0:
            clause = _CLAUSE_END.search(self._buffer)
            if clause and len(self._buffer[: clause.end()].split()) >= 2:
                return clause.end()
            if len(words) > self.first_phrase_words:
                return self._after_word(self.first_phrase_words)
        if len(words) > self.max_words:
            return self._after_word(self.max_words)
        return None

    def _after_word(self, count: int) -> int:
        for index, match in enumerate(re.finditer(r"\S+", self._buffer), start=1):
            if index == count:
                return match.end()
        return len(self._buffer)


def clean(text: str) -> str:
    """Speakable text: markdown and stray markers removed, whitespace collapsed."""
    return " ".join(_MARKUP.sub(" ", text).split())
