"""A TEST DOUBLE for SearXNG: a tiny server speaking SearXNG's JSON search API over a fixed local corpus.

The local stack and the tests have no internet; agents with ``web_search`` search this instead (the stack sets
``PARLEY_SEARXNG_URL`` to it and ``PARLEY_SEARCH_PROVIDER_OVERRIDE=SearXNG``). It is not a search engine: it ranks
the documents of ``devstack/search_corpus.json`` (made-up places and facts a model cannot know) by BM25 over their
title and content. Pointing ``PARLEY_SEARXNG_URL`` at a real SearXNG is configuration only.

API (the subset of SearXNG's that ``streaming.search.searxng`` uses):

* ``GET /search?q=<query>&format=json[&pageno=N]`` (also ``POST`` with a form): ``{"query", "number_of_results",
  "results": [{"title", "url", "content", "engine", "engines", "score", "category", "positions"}], "answers": [],
  "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []}``, 10 results a page, only
  documents that share a word with the query. Any other ``format`` gets 403, as from a SearXNG whose settings do
  not enable it; a missing ``q`` gets 400.
* ``GET /healthz``: ``OK``.

Run alone: ``python -m devstack.search_standin --port 8604 [--corpus FILE]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

CORPUS = Path(__file__).with_name("search_corpus.json")
PAGE_SIZE = 10
ENGINE = "parley-standin"
_K1, _B = 1.5, 0.75
_TITLE_WEIGHT = 2  # a title word counts as this many body words
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "me", "of", "on", "or", "please", "tell", "the", "there", "this", "to", "what", "when", "where", "which", "who",
    "will", "with", "you", "your"})


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class Document:
    title: str
    url: str
    content: str


class Index:
    """BM25 over a handful of documents (recomputed per query: the corpus is small)."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self._terms = [Counter(words(d.title) * _TITLE_WEIGHT + words(d.content)) for d in documents]
        self._lengths = [sum(t.values()) for t in self._terms]
        self._average = (sum(self._lengths) / len(self._lengths)) if documents else 1.0
        self._frequency: Counter[str] = Counter(term for terms in self._terms for term in terms)

    @classmethod
    def load(cls, path: Path = CORPUS) -> Index:
        data = json.loads(path.read_text())
        return cls([Document(str(d["title"]), str(d["url"]), str(d["content"])) for d in data["documents"]])

    def search(self, query: str) -> list[tuple[float, Document]]:
        """Documents sharing a word with ``query``, best first (ties keep corpus order)."""
        total = len(self.documents)
        scored: list[tuple[float, int]] = []
        for index, terms in enumerate(self._terms):
            score = 0.0
            for term in set(words(query)):
                count = terms.get(term, 0)
                if not count:
                    continue
                frequency = self._frequency[term]
                idf = math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
                norm = count + _K1 * (1 - _B + _B * self._lengths[index] / self._average)
                score += idf * count * (_K1 + 1) / norm
            if score > 0:
                scored.append((score, index))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [(score, self.documents[index]) for score, index in scored]


def make_app(index: Index) -> web.Application:
    async def search(request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        if params.get("format", "html") != "json":
            return web.Response(status=403, text="403 Forbidden: only format=json is served by this stand-in")
        query = params.get("q", "").strip()
        if not query:
            return web.json_response({"error": "q is required"}, status=400)
        try:
            page = max(1, int(params.get("pageno", "1")))
        except ValueError:
            page = 1
        hits = index.search(query)
        start = (page - 1) * PAGE_SIZE
        results = [{"title": d.title, "url": d.url, "content": d.content, "engine": ENGINE, "engines": [ENGINE],
                    "score": round(score, 4), "category": "general", "positions": [start + n + 1]}
                   for n, (score, d) in enumerate(hits[start:start + PAGE_SIZE])]
        return web.json_response({"query": query, "number_of_results": len(hits), "results": results,
                                  "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
                                  "unresponsive_engines": []})

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_route("GET", "/search", search)
    app.router.add_route("POST", "/search", search)
    app.router.add_get("/healthz", healthz)
    return app


class SearchStandin:
    """The stand-in on its own thread and event loop (``start``/``stop``), for the local stack and the tests."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", corpus: Path = CORPUS) -> None:
        self._host, self._port = host, port
        self._index = Index.load(corpus)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="search-standin", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> SearchStandin:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SearchStandin:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def _serve(self) -> None:
        self._runner = web.AppRunner(make_app(self._index), access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port, reuse_address=True).start()
        self._port = int(self._runner.addresses[0][1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.search_standin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8604)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    web.run_app(make_app(Index.load(args.corpus)), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
