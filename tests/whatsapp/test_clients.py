"""The Graph calls client and the streaming service's ``/whatsapp`` client against stand-ins over HTTP: refusals and
unreachable servers are typed errors with safe messages; the media URL follows the web offer URL when not set."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.whatsapp.config import media_url_from
from chalicelib.whatsapp.graph import GraphCalls, GraphError
from chalicelib.whatsapp.media import MediaClient, MediaError
from tests.whatsapp.conftest import SECRET
from tests.whatsapp.fakes import FakeServer, Seen

TOKEN = "EAAG" + "s" * 40
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture()
def odd_server() -> Iterator[FakeServer]:
    """Answers 500 with a body that is not Graph's error shape, or 200 without what the client wants."""
    def route(seen: Seen) -> tuple[int, object]:
        return (500, ["not", "graph"]) if seen.path.endswith("/calls") else (200, {"type": "answer"})

    server = FakeServer(route).start()
    yield server
    server.stop()


def test_the_media_url_is_explicit_or_follows_the_web_offer_url() -> None:
    assert media_url_from("https://media.example.com/whatsapp/", None) == "https://media.example.com/whatsapp"
    assert media_url_from(None, "https://stream.example.com/web/offer") == "https://stream.example.com/whatsapp"
    assert media_url_from("", "https://other.example.com/offer") is None
    assert media_url_from(None, None) is None


def test_graph_failures_are_graph_errors_that_never_name_the_token(odd_server: FakeServer) -> None:
    with pytest.raises(GraphError) as unreachable:
        GraphCalls(UNREACHABLE, "1065", TOKEN).terminate("wacid.X")
    assert "unreachable" in str(unreachable.value) and TOKEN not in str(unreachable.value)
    with pytest.raises(GraphError) as refused:
        GraphCalls(odd_server.url, "1065", TOKEN).reject("wacid.X")
    assert refused.value.status == 500 and str(refused.value) == "graph reject: Graph answered 500"
    assert odd_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_media_failures_are_media_errors(odd_server: FakeServer) -> None:
    with pytest.raises(MediaError, match="unreachable"):
        MediaClient(UNREACHABLE + "/whatsapp", SECRET).offer(1, 2, ring_timeout_s=60)
    with pytest.raises(MediaError, match="holds no SDP answer"):
        MediaClient(odd_server.url + "/whatsapp", SECRET).answer(1, 2, "v=0")
