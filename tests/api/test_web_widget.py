"""An agent's web widget: its public key is issued on enable, shown, rotated and deleted with the agent;
its allowed origins are validated and stored as browsers send them."""
from __future__ import annotations

import pytest
import requests

from tests.conftest import AGENT, Tenant

PAGE = "http://127.0.0.1:8600"
WIDGET = {"enabled": True, "allowed_origins": [PAGE]}


def _resolve(public_key: str):
    from chalicelib.domain.web_widget import resolve

    return resolve(public_key)


def _web_call(tenant: Tenant, public_key: str, agent_id: int) -> requests.Response:
    return requests.post(tenant.url("web-calls"), json={"agent_id": agent_id},
                         headers={"Authorization": f"Bearer {public_key}", "Origin": PAGE})


@pytest.fixture()
def web_calls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WEB_OFFER_URL", "http://127.0.0.1:8700/web/offer")


def test_enabling_the_widget_issues_a_public_key_that_resolves_to_the_agent(tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    assert tenant.get(f"agents/{agent_id}").json()["web_widget"] is None  # never configured

    updated = tenant.put(f"agents/{agent_id}", json={"web_widget": WIDGET})
    assert updated.status_code == 200, updated.text
    widget = updated.json()["web_widget"]
    key = widget["public_key"]
    assert widget["enabled"] is True and widget["allowed_origins"] == [PAGE]
    assert key.startswith("pub_") and len(key) >= len("pub_") + 22  # >= 128 bits, base64url
    assert all(c.isalnum() or c in "-_" for c in key.removeprefix("pub_"))
    assert tenant.get(f"agents/{agent_id}").json()["web_widget"] == widget
    found = _resolve(key)
    assert found is not None and (found.account_id, found.agent_id) == (tenant.account_id, agent_id)

    # Updating the widget again (or anything else) keeps the key; disabling keeps it too, but off.
    again = tenant.put(f"agents/{agent_id}", json={"web_widget": {**WIDGET, "allowed_origins": [PAGE, "https://a.io"]}})
    assert again.json()["web_widget"]["public_key"] == key
    assert tenant.put(f"agents/{agent_id}", json={"name": "Renamed"}).json()["web_widget"]["public_key"] == key
    off = tenant.put(f"agents/{agent_id}", json={"web_widget": {"enabled": False}}).json()["web_widget"]
    assert off == {"enabled": False, "allowed_origins": [], "public_key": key}


def test_creating_an_agent_with_the_widget_enabled_issues_its_key(tenant: Tenant) -> None:
    created = tenant.post("agents/create", json={**AGENT, "web_widget": WIDGET})
    assert created.status_code == 201, created.text
    key = created.json()["web_widget"]["public_key"]
    assert key.startswith("pub_")
    assert _resolve(key).agent_id == created.json()["id"]
    listed = tenant.get("agents").json()["agents"][0]
    assert listed["web_widget"]["public_key"] == key


def test_a_disabled_widget_gets_no_key(tenant: Tenant) -> None:
    created = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": False,
                                                                         "allowed_origins": [PAGE]}}).json()
    assert created["web_widget"] == {"enabled": False, "allowed_origins": [PAGE], "public_key": None}


def test_rotating_replaces_the_key_and_the_old_one_stops_working_at_once(tenant: Tenant, web_calls_on: None) -> None:
    agent_id = tenant.post("agents/create", json={**AGENT, "web_widget": WIDGET}).json()["id"]
    old = tenant.get(f"agents/{agent_id}").json()["web_widget"]["public_key"]
    assert _web_call(tenant, old, agent_id).status_code == 201

    rotated = tenant.post(f"agents/{agent_id}/web-widget/rotate-key")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["web_widget"]["public_key"]
    assert new != old and new.startswith("pub_")
    assert rotated.json()["web_widget"]["allowed_origins"] == [PAGE]
    assert tenant.get(f"agents/{agent_id}").json()["web_widget"]["public_key"] == new
    assert _resolve(old) is None and _resolve(new).agent_id == agent_id

    refused = _web_call(tenant, old, agent_id)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert _web_call(tenant, new, agent_id).status_code == 201


def test_rotating_gives_an_agent_without_a_key_its_first(tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    rotated = tenant.post(f"agents/{agent_id}/web-widget/rotate-key").json()["web_widget"]
    assert rotated["enabled"] is False and rotated["public_key"].startswith("pub_")


def test_only_the_owner_rotates_and_unknown_agents_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json={**AGENT, "web_widget": WIDGET}).json()["id"]
    key = tenant.get(f"agents/{agent_id}").json()["web_widget"]["public_key"]
    assert other_tenant.post(f"agents/{agent_id}/web-widget/rotate-key").status_code == 404
    assert tenant.post("agents/999999/web-widget/rotate-key").status_code == 404
    assert tenant.get(f"agents/{agent_id}").json()["web_widget"]["public_key"] == key
    assert requests.post(tenant.url(f"agents/{agent_id}/web-widget/rotate-key")).status_code == 401


def test_deleting_the_agent_deletes_its_key(tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json={**AGENT, "web_widget": WIDGET}).json()["id"]
    key = tenant.get(f"agents/{agent_id}").json()["web_widget"]["public_key"]
    assert tenant.delete(f"agents/{agent_id}").status_code == 200
    assert _resolve(key) is None


def test_the_public_key_is_read_only(tenant: Tenant) -> None:
    refused = tenant.post("agents/create", json={**AGENT, "web_widget": {**WIDGET, "public_key": "pub_mine"}})
    assert refused.status_code == 422 and refused.json()["field"] == "web_widget.public_key"


def test_origins_are_stored_as_browsers_send_them(tenant: Tenant) -> None:
    origins = ["HTTPS://Shop.Example.COM:443", "http://localhost:8080", "http://[::1]:3000", "http://a.io:80",
               "https://shop.example.com"]
    created = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": True,
                                                                         "allowed_origins": origins}})
    assert created.status_code == 201, created.text
    assert created.json()["web_widget"]["allowed_origins"] == [
        "https://shop.example.com", "http://localhost:8080", "http://[::1]:3000", "http://a.io"]


@pytest.mark.parametrize(("origin", "reason"), [
    ("*", "wildcards are not allowed"),
    ("https://*.example.com", "wildcards are not allowed"),
    ("https://example.com/", "no path"),
    ("https://example.com/shop", "no path"),
    ("https://example.com?x=1", "no path"),
    ("ftp://example.com", "http:// or https://"),
    ("example.com", "http:// or https://"),
    ("https://user:pw@example.com", "user name or password"),
    ("https://", "must name a host"),
    ("https://example.com:99999", "scheme://host[:port]"),
    ("https://" + "a" * 300 + ".com", "at most 300 characters"),
])
def test_invalid_origins_are_refused_naming_the_reason(tenant: Tenant, origin: str, reason: str) -> None:
    refused = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": True,
                                                                         "allowed_origins": [origin]}})
    assert refused.status_code == 422, origin
    body = refused.json()
    assert body["field"] == "web_widget.allowed_origins.0"
    assert reason in body["error_description"], body


def test_at_most_twenty_origins(tenant: Tenant) -> None:
    origins = [f"https://site{i}.example.com" for i in range(21)]
    refused = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": True,
                                                                         "allowed_origins": origins}})
    assert refused.status_code == 422 and refused.json()["field"] == "web_widget.allowed_origins"
    accepted = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": True,
                                                                          "allowed_origins": origins[:20]}})
    assert accepted.status_code == 201
