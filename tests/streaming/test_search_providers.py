"""Web-search providers over real HTTP: SearXNG against the local stand-in, Tavily (its official client) and Exa
against local fakes answering their documented wire format, DuckDuckGo (ddgs) with a stand-in client; the 2.5 s
deadline, size caps, malformed answers and the SSRF guard."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.agent_settings import WebSearch
from devstack.search_standin import SearchStandin
from streaming.search import (
    SearchError,
    SearchNotConfigured,
    SearchProviderError,
    SearchRefused,
    SearchResult,
    SearchTimeout,
    describe_config,
    provider_for,
    search_with_deadline,
)
from streaming.search.duckduckgo import DuckDuckGoProvider, _ddgs_client
from streaming.search.exa import ExaProvider
from streaming.search.http import SearchHttp, allowed_networks_from
from streaming.search.searxng import SearxngProvider
from streaming.search.tavily import TavilyProvider
from tests.delivery.test_safe_http import Answer, Receiver, resolver

LOCAL = ("127.0.0.0/8",)
LOCAL_ENV = {"PARLEY_SEARCH_ALLOWED_NETWORKS": "127.0.0.0/8"}
SEARXNG = WebSearch(enabled=True, provider="SearXNG")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture(scope="module")
def standin() -> Iterator[SearchStandin]:
    with SearchStandin() as running:
        yield running


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def json_answer(payload: Any, status: int = 200, delay_s: float = 0.0) -> Answer:
    return Answer(status, json.dumps(payload).encode(), {"Content-Type": "application/json"}, delay_s)


# -- SearXNG against the stand-in -------------------------------------------------------------------------------

def test_searxng_finds_the_corpus_fact_over_http(standin: SearchStandin) -> None:
    provider = provider_for(SEARXNG, None, {"PARLEY_SEARXNG_URL": standin.url, **LOCAL_ENV})
    assert isinstance(provider, SearxngProvider) and provider.name == "SearXNG"
    results = run(search_with_deadline(provider, "When does the Riverside farmers market open?"))
    assert results[0].title == "Riverside Farmers Market: hours and location"
    assert results[0].url == "https://riverside-market.example.org/hours"
    assert "Saturdays at 7 am at Pier 9" in results[0].snippet
    assert 1 <= len(results) <= 5


def test_searxng_honours_max_results_and_answers_nothing_for_an_unknown_word(standin: SearchStandin) -> None:
    provider = SearxngProvider(standin.url, SearchHttp(LOCAL))
    assert len(run(search_with_deadline(provider, "hours open closed weekdays", max_results=2))) == 2
    assert run(search_with_deadline(provider, "zebra xylophone")) == []


def test_the_override_sends_every_agent_to_searxng(standin: SearchStandin) -> None:
    env = {"PARLEY_SEARXNG_URL": standin.url, "PARLEY_SEARCH_PROVIDER_OVERRIDE": "SearXNG", **LOCAL_ENV}
    for name in ("DuckDuckGo", "Tavily", "Exa"):
        provider = provider_for(WebSearch(enabled=True, provider=name), None, env)
        assert isinstance(provider, SearxngProvider)
    results = run(search_with_deadline(provider, "Gull Island ferry price"))
    assert "14 dollars" in results[0].snippet


def test_a_slow_searxng_gives_search_timeout_at_the_deadline(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer({"results": []}, delay_s=5)
    provider = SearxngProvider(receiver.url(""), SearchHttp(LOCAL))
    started = time.monotonic()
    with pytest.raises(SearchTimeout) as caught:
        run(search_with_deadline(provider, "anything", timeout_s=2.5))
    elapsed = time.monotonic() - started
    assert 2.4 <= elapsed < 3.2, elapsed
    # the deadline, not the request's own timeout (a backstop set past it): one message, whatever the timing
    assert caught.value.provider == "SearXNG"
    assert str(caught.value) == "the search took longer than 2.5 seconds"


def test_an_oversized_answer_is_refused_with_a_clear_error(receiver: Receiver) -> None:
    huge = {"results": [{"title": "t", "url": "https://x.example", "content": "x" * 1000}] * 400}  # ~420 KB
    receiver.route = lambda seen: json_answer(huge)
    with pytest.raises(SearchProviderError, match="more than 256 KiB"):
        run(search_with_deadline(SearxngProvider(receiver.url(""), SearchHttp(LOCAL)), "q"))


@pytest.mark.parametrize(("answer", "message"), [
    (Answer(200, b"<html>not json</html>"), "not JSON"),
    (json_answer({"no": "results"}), "without a results list"),
    (json_answer(["a", "list"]), "without a results list"),
    (json_answer({"error": "boom"}, status=500), "HTTP 500"),
    (Answer(403, b"Forbidden"), "HTTP 403"),
])
def test_malformed_or_failed_answers_are_search_errors(receiver: Receiver, answer: Answer, message: str) -> None:
    receiver.route = lambda seen: answer
    with pytest.raises(SearchProviderError, match=message):
        run(search_with_deadline(SearxngProvider(receiver.url(""), SearchHttp(LOCAL)), "q"))


def test_malformed_results_are_skipped_and_markup_removed(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer({"results": [
        "not an object",
        {"title": "Bad link", "url": "javascript:alert(1)", "content": "x"},
        {"title": None, "url": "https://empty.example", "content": None},
        {"title": "<b>Good</b> &amp; fine", "url": "https://good.example/a", "content": "line one\nline\ttwo <i>x</i>"},
    ]})
    results = run(search_with_deadline(SearxngProvider(receiver.url(""), SearchHttp(LOCAL)), "q"))
    assert results == [SearchResult("Good & fine", "https://good.example/a", "line one line two x")]


def test_the_query_is_sent_as_searxng_expects(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer({"results": []})
    run(search_with_deadline(SearxngProvider(receiver.url("/sx/"), SearchHttp(LOCAL)), "  pier 9   &  market "))
    seen = receiver.requests[0]
    assert seen.method == "GET" and seen.path == "/sx/search?q=pier+9+%26+market&format=json"
    assert seen.headers["accept"] == "application/json"


# -- the SSRF guard ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://169.254.169.254", "http://[::ffff:169.254.169.254]", "http://10.0.0.5:8080",
                                 "http://192.168.1.10"])
def test_searxng_at_a_metadata_or_private_address_is_refused(url: str) -> None:
    provider = provider_for(SEARXNG, None, {"PARLEY_SEARXNG_URL": url, **LOCAL_ENV})
    started = time.monotonic()
    with pytest.raises(SearchRefused, match="address is not allowed"):
        run(search_with_deadline(provider, "q"))
    assert time.monotonic() - started < 1  # refused before any connection


def test_a_local_searxng_is_refused_without_the_local_allowance(standin: SearchStandin) -> None:
    provider = provider_for(SEARXNG, None, {"PARLEY_SEARXNG_URL": standin.url})
    with pytest.raises(SearchRefused, match="127.0.0.1 is a loopback address"):
        run(search_with_deadline(provider, "market"))


def test_a_name_resolving_to_the_metadata_address_is_refused() -> None:
    http = SearchHttp(LOCAL, resolver=resolver({"search.example.com": ["169.254.169.254"]}))
    with pytest.raises(SearchRefused, match="link-local"):
        run(search_with_deadline(SearxngProvider("http://search.example.com", http), "q"))


@pytest.mark.parametrize("networks", ["169.254.0.0/16", "0.0.0.0/0", "169.254.169.254/32"])
def test_the_allowance_can_never_include_link_local(networks: str) -> None:
    with pytest.raises(ValueError, match="link-local"):
        allowed_networks_from({"PARLEY_SEARCH_ALLOWED_NETWORKS": networks})
    assert allowed_networks_from({"PARLEY_SEARCH_ALLOWED_NETWORKS": " 127.0.0.0/8, 10.1.0.0/16 "}) == (
        "127.0.0.0/8", "10.1.0.0/16")


# -- Tavily (official client through the guard) -------------------------------------------------------------------

TAVILY_ANSWER = {  # Tavily's documented /search answer
    "query": "ferry to gull island", "answer": None, "images": [], "follow_up_questions": None,
    "results": [
        {"title": "Gull Island ferry", "url": "https://harborline.example.com/gull-island",
         "content": "Round trip 14 dollars.", "score": 0.91, "raw_content": None},
        {"title": "Harbor Line", "url": "https://harborline.example.com", "content": "Ferries.", "score": 0.5},
    ],
    "response_time": 0.8,
}


def test_tavily_client_sends_the_documented_request_and_its_answer_is_read(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer(TAVILY_ANSWER)
    provider = TavilyProvider("tvly-secret", SearchHttp(LOCAL), base_url=receiver.url(""))
    results = run(search_with_deadline(provider, "ferry to gull island", max_results=3))
    assert results == [
        SearchResult("Gull Island ferry", "https://harborline.example.com/gull-island", "Round trip 14 dollars."),
        SearchResult("Harbor Line", "https://harborline.example.com", "Ferries."),
    ]
    seen = receiver.requests[0]
    assert (seen.method, seen.path) == ("POST", "/search")
    assert seen.headers["authorization"] == "Bearer tvly-secret"
    body = json.loads(seen.body)
    assert body["query"] == "ferry to gull island" and body["max_results"] == 3 and body["search_depth"] == "basic"


@pytest.mark.parametrize(("status", "message"), [(401, "refused the API key"), (429, "usage limit"),
                                                 (400, "refused the request"), (502, "Tavily search failed")])
def test_tavily_errors_become_search_errors_without_the_key(receiver: Receiver, status: int, message: str) -> None:
    receiver.route = lambda seen: json_answer({"detail": {"error": "tvly-secret is bad"}}, status=status)
    provider = TavilyProvider("tvly-secret", SearchHttp(LOCAL), base_url=receiver.url(""))
    with pytest.raises(SearchProviderError, match=message) as caught:
        run(search_with_deadline(provider, "q"))
    assert "tvly-secret" not in str(caught.value)


def test_tavily_client_requests_go_through_the_guard() -> None:
    provider = TavilyProvider("k", SearchHttp(LOCAL), base_url="http://169.254.169.254")
    with pytest.raises(SearchRefused):
        run(search_with_deadline(provider, "q"))


def test_a_slow_tavily_times_out_at_the_deadline(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer(TAVILY_ANSWER, delay_s=3)
    provider = TavilyProvider("k", SearchHttp(LOCAL), base_url=receiver.url(""), timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(SearchTimeout):
        run(search_with_deadline(provider, "q", timeout_s=1.0))
    assert time.monotonic() - started < 1.6


# -- Exa (REST API through the guard) -----------------------------------------------------------------------------

EXA_ANSWER = {  # Exa's documented /search answer with highlights
    "requestId": "abc", "resolvedSearchType": "fast",
    "results": [
        {"id": "1", "title": "Tide Pool Aquarium", "url": "https://tidepool-aquarium.example.org/tickets",
         "score": 0.8, "highlights": ["Adults 22 dollars.", "Open 9 am to 5 pm."], "highlightScores": [0.9, 0.5]},
        {"id": "2", "title": "No highlights", "url": "https://x.example", "text": "Full text here."},
    ],
    "costDollars": {"total": 0.005},
}


def test_exa_sends_the_documented_request_and_its_answer_is_read(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer(EXA_ANSWER)
    provider = ExaProvider("exa-secret", SearchHttp(LOCAL), base_url=receiver.url(""))
    results = run(search_with_deadline(provider, "aquarium tickets", max_results=4))
    assert results == [
        SearchResult("Tide Pool Aquarium", "https://tidepool-aquarium.example.org/tickets",
                     "Adults 22 dollars. Open 9 am to 5 pm."),
        SearchResult("No highlights", "https://x.example", "Full text here."),
    ]
    seen = receiver.requests[0]
    assert (seen.method, seen.path) == ("POST", "/search") and seen.headers["x-api-key"] == "exa-secret"
    assert json.loads(seen.body) == {"query": "aquarium tickets", "numResults": 4, "type": "fast",
                                     "contents": {"highlights": {"maxCharacters": 600}}}


def test_exa_rate_limit_is_a_search_error(receiver: Receiver) -> None:
    receiver.route = lambda seen: json_answer({"error": "slow down"}, status=429)
    with pytest.raises(SearchProviderError, match="rate limiting"):
        run(search_with_deadline(ExaProvider("k", SearchHttp(LOCAL), base_url=receiver.url("")), "q"))


# -- DuckDuckGo (ddgs) -------------------------------------------------------------------------------------------

class FakeDdgs:
    """Stands in for ``ddgs.DDGS``: same ``text`` call, answers in ddgs's documented shape."""

    def __init__(self, answer: Any = None, error: Exception | None = None, delay_s: float = 0.0) -> None:
        self.answer, self.error, self.delay_s = answer, error, delay_s
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, timeout_s: float) -> FakeDdgs:
        return self

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append((query, kwargs))
        time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.answer


def test_duckduckgo_reads_ddgs_results() -> None:
    fake = FakeDdgs([{"title": "Summit Bakery", "href": "https://summitbakery.example.com/menu",
                      "body": "Sourdough 6 dollars 50."}, {"title": "", "href": "", "body": ""}])
    provider = DuckDuckGoProvider(client_factory=fake)
    results = run(search_with_deadline(provider, "sourdough price", max_results=3))
    assert results == [
        SearchResult("Summit Bakery", "https://summitbakery.example.com/menu", "Sourdough 6 dollars 50.")]
    assert fake.calls == [("sourdough price", {"max_results": 3, "backend": "duckduckgo", "safesearch": "moderate"})]


def test_duckduckgo_errors() -> None:
    from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

    assert run(search_with_deadline(DuckDuckGoProvider(client_factory=FakeDdgs(error=DDGSException(
        "No results found."))), "q")) == []
    with pytest.raises(SearchProviderError, match="rate limiting"):
        run(search_with_deadline(DuckDuckGoProvider(client_factory=FakeDdgs(error=RatelimitException("202"))), "q"))
    with pytest.raises(SearchTimeout):
        run(search_with_deadline(DuckDuckGoProvider(client_factory=FakeDdgs(error=TimeoutException("x"))), "q"))
    with pytest.raises(SearchProviderError):
        run(search_with_deadline(DuckDuckGoProvider(client_factory=FakeDdgs(error=OSError("net"))), "q"))


def test_a_blocking_ddgs_call_is_cut_at_the_deadline() -> None:
    provider = DuckDuckGoProvider(client_factory=FakeDdgs([], delay_s=3))
    started = time.monotonic()
    with pytest.raises(SearchTimeout):
        run(search_with_deadline(provider, "q", timeout_s=0.5))
    assert time.monotonic() - started < 1.0


def test_the_default_duckduckgo_client_is_ddgs() -> None:
    from ddgs.ddgs import DDGS  # the class behind ddgs's exported name

    assert isinstance(_ddgs_client(2.5), DDGS)
    assert isinstance(provider_for(WebSearch(enabled=True), None, {}), DuckDuckGoProvider)  # the SDK's default


# -- choosing a provider -------------------------------------------------------------------------------------------

def test_provider_for_names_and_keys() -> None:
    env = {"PARLEY_SEARXNG_URL": "http://127.0.0.1:9", **LOCAL_ENV}
    assert isinstance(provider_for(WebSearch(enabled=True, provider="searxng"), None, env), SearxngProvider)
    assert isinstance(provider_for(WebSearch(enabled=True, provider="Tavily"), {"Tavily": "k"}, env), TavilyProvider)
    assert isinstance(provider_for(WebSearch(enabled=True, provider="exa"), {"Exa": "k"}, env), ExaProvider)
    # the deployment's key serves accounts without their own
    assert isinstance(provider_for(WebSearch(enabled=True, provider="Exa"), {}, {"PARLEY_EXA_API_KEY": "d"}),
                      ExaProvider)


@pytest.mark.parametrize(("settings", "credentials", "env", "message"), [
    (None, None, {}, "off"),
    (WebSearch(enabled=False, provider="SearXNG"), None, {"PARLEY_SEARXNG_URL": "http://x"}, "off"),
    (WebSearch.model_construct(enabled=True, provider="Bing"), None, {}, "unknown search provider 'Bing'"),
    (WebSearch(enabled=True, provider="SearXNG"), None, {}, "PARLEY_SEARXNG_URL is not set"),
    (WebSearch(enabled=True, provider="Tavily"), {"Exa": "k"}, {}, "Tavily needs an API key"),
    (WebSearch(enabled=True), None, {"PARLEY_SEARCH_PROVIDER_OVERRIDE": "nope"}, "PARLEY_SEARCH_PROVIDER_OVERRIDE"),
])
def test_provider_for_refuses_what_cannot_search(settings: WebSearch | None, credentials: dict[str, str] | None,
                                                 env: dict[str, str], message: str) -> None:
    with pytest.raises(SearchNotConfigured, match=message):
        provider_for(settings, credentials, env)


def test_search_with_deadline_turns_any_failure_into_a_search_error() -> None:
    class Broken:
        name = "Broken"

        async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
            raise RuntimeError("bug")

    with pytest.raises(SearchError, match="Broken search failed"):
        run(search_with_deadline(Broken(), "q"))
    with pytest.raises(SearchError, match="nothing to search"):
        run(search_with_deadline(Broken(), "   "))


def test_describe_config_says_where_searches_go_without_secrets() -> None:
    line = describe_config({"PARLEY_SEARXNG_URL": "http://user:pw@127.0.0.1:8604",
                            "PARLEY_SEARCH_PROVIDER_OVERRIDE": "searxng", **LOCAL_ENV})
    assert line == ("web search: every agent's searches go to SearXNG (PARLEY_SEARCH_PROVIDER_OVERRIDE); "
                    "SearXNG: http://127.0.0.1:8604; private networks allowed: 127.0.0.0/8")
    assert "not configured" in describe_config({}) and "public addresses only" in describe_config({})


