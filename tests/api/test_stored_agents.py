"""Agents stored by an older (or newer) version are read leniently: a stored key the model does not know, or a
value it no longer accepts, is left out of the answer instead of failing the request."""
from __future__ import annotations

from tests.conftest import AGENT, Tenant


def test_an_agent_stored_with_settings_this_version_does_not_know_still_reads(tenant: Tenant) -> None:
    from chalicelib.db.models import Agent

    created = tenant.post("agents/create", json={**AGENT, "transcriber": {"provider": "whisper"}}).json()
    stored = Agent.get(tenant.account_id, created["id"])
    stored.config = {**stored.config, "retired_setting": True,
                     "transcriber": {"provider": "whisper", "endpointing": "fast"}}
    stored.save()

    one = tenant.get(f"agents/{created['id']}")
    assert one.status_code == 200
    body = one.json()
    assert body["transcriber"] == {"provider": "whisper"} and "retired_setting" not in body
    assert body["context_breakdown"] == created["context_breakdown"]
    listed = tenant.get("agents")
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["agents"]] == [created["id"]]
