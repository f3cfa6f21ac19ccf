"""The local stack serves the SearXNG stand-in, says where it is, and stores web search keys through its API."""
from __future__ import annotations

import pytest
import requests

# Only the stand-in and the API are checked here: no voice, no models to load.
STACK_ENV = {"PARLEY_DEV_VOICE": "0", "PARLEY_TELEPHONY": "none"}

pytestmark = pytest.mark.slow


def test_the_stack_serves_the_search_standin_and_search_keys(local_stack: dict) -> None:
    url = local_stack["searxng_url"]
    assert url == local_stack["search_standin_url"] and url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/healthz", timeout=5).text == "OK"
    answer = requests.get(f"{url}/search", params={"q": "When does the Riverside farmers market open?",
                                                   "format": "json"}, timeout=5).json()
    assert "Saturdays at 7 am at Pier 9" in answer["results"][0]["content"]
    assert "agents' web searches all go to SearXNG" in local_stack["log_file"].read_text()

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {local_stack['api_key']}"
    stored = api.put(f"{local_stack['api_url']}/web_search/credentials",
                     json={"provider": "Tavily", "api_key": "tvly-local-0123456789"}, timeout=10)
    assert stored.status_code == 200, stored.text
    listing = api.get(f"{local_stack['api_url']}/web_search/credentials", timeout=10)
    assert {c["provider"]: c["configured"] for c in listing.json()["credentials"]} == {"Tavily": True, "Exa": False}
    assert "tvly-local" not in listing.text
