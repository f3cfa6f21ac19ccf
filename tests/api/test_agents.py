"""Agents: every SDK-documented field is stored and returned; updates merge; deletes cascade."""
from __future__ import annotations

from tests.conftest import AGENT, TWILIO_SID, Tenant

FULL_AGENT = {
    **AGENT,
    "call_type": "Outgoing",
    "is_interruption_allowed": True,
    "is_welcome_message_dynamic": False,
    "is_welcome_message_interruption": True,
    "transcriber": {"provider": "whisper", "silence_timeout_ms": 400, "should_apply_noise_reduction": True},
    "model": {"model": "smollm2-135m", "temperature": 0.3},
    "voice": {"provider": "piper", "voice_id": "en_US-joe-medium", "speech_speed": 1.1},
    # Configured but off.
    "web_search": {"enabled": False, "provider": "DuckDuckGo"},
    "filler": {"enabled": False, "after_sec": 1.5},
    "background_track": {"enabled": False, "name": "office", "volume": 0.1},
    "voicemail": {"enabled": False, "message": "Please call us back."},
    "end_call": {"enabled": True, "condition": "the caller says goodbye", "message": "Goodbye!"},
    "timezone": "America/New_York",
}


def test_create_stores_and_returns_every_documented_field(tenant: Tenant) -> None:
    created = tenant.post("agents/create", json=FULL_AGENT)
    assert created.status_code == 201
    agent = tenant.get(f"agents/{created.json()['id']}").json()
    for key, value in FULL_AGENT.items():
        assert agent[key] == value, key
    assert isinstance(agent["id"], int)


def test_web_search_in_the_sdks_default_shape_is_accepted_enabled_and_stored(tenant: Tenant) -> None:
    web_search = {"enabled": True, "provider": "DuckDuckGo"}  # the SDK's default
    created = tenant.post("agents/create", json={**AGENT, "web_search": web_search})
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    assert tenant.get(f"agents/{agent_id}").json()["web_search"] == web_search
    assert tenant.put(f"agents/{agent_id}", json={"web_search": {"enabled": False}}).status_code == 200
    assert tenant.get(f"agents/{agent_id}").json()["web_search"]["enabled"] is False


def test_features_left_out_or_off_are_accepted(tenant: Tenant) -> None:
    assert tenant.post("agents/create", json=AGENT).status_code == 201
    off = {field: {"enabled": False} for field in ("web_search", "filler", "background_track", "voicemail")}
    assert tenant.post("agents/create", json={**AGENT, **off}).status_code == 201


def test_a_background_track_is_accepted_enabled_and_an_unknown_one_is_refused_with_the_known_names(
        tenant: Tenant) -> None:
    office = {"enabled": True, "name": "office", "volume": 0.3}
    created = tenant.post("agents/create", json={**AGENT, "background_track": office})
    assert created.status_code == 201
    agent_id = created.json()["id"]
    assert tenant.get(f"agents/{agent_id}").json()["background_track"] == office
    default = tenant.put(f"agents/{agent_id}", json={"background_track": {"enabled": True}})
    assert default.status_code == 200  # no name: the default track ("office"), at the default volume
    assert tenant.get(f"agents/{agent_id}").json()["background_track"] == {"enabled": True, "volume": 0.2}
    for send in (lambda body: tenant.post("agents/create", json={**AGENT, **body}),
                 lambda body: tenant.put(f"agents/{agent_id}", json=body)):
        refused = send({"background_track": {"enabled": True, "name": "cafe"}})
        assert refused.status_code == 422
        body = refused.json()
        assert body["error"] == "validation_error" and body["field"] == "background_track.name"
        assert "'cafe'" in body["error_description"] and '"office"' in body["error_description"]
    assert tenant.get(f"agents/{agent_id}").json()["background_track"]["enabled"] is True


def test_list_pages_newest_first(tenant: Tenant) -> None:
    ids = [tenant.post("agents/create", json={**AGENT, "name": f"a{i}"}).json()["id"] for i in range(5)]
    page1 = tenant.get("agents", params={"pageno": 1, "pagesize": 2}).json()
    page3 = tenant.get("agents", params={"pageno": 3, "pagesize": 2}).json()
    assert [a["id"] for a in page1["agents"]] == ids[::-1][:2]
    assert [a["id"] for a in page3["agents"]] == ids[::-1][4:]
    assert page1["total_records"] == 5


def test_update_replaces_given_fields_and_keeps_the_rest(tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json=FULL_AGENT).json()["id"]
    voice = {"provider": "polly", "voice_id": "Joanna"}
    updated = tenant.put(f"agents/{agent_id}", json={"name": "Renamed", "voice": voice})
    assert updated.status_code == 200
    agent = tenant.get(f"agents/{agent_id}").json()
    assert agent["name"] == "Renamed"
    assert agent["voice"] == {"provider": "polly", "voice_id": "Joanna"}
    assert agent["transcriber"] == FULL_AGENT["transcriber"]


def test_delete_removes_agent_actions_and_detaches_numbers(tenant: Tenant) -> None:
    agent_id = tenant.post("agents/create", json=AGENT).json()["id"]
    tenant.post(f"agents/{agent_id}/post-call-actions", json={"type": "webhook", "url": "https://e.example/h"})
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+14155550100", "account_sid": TWILIO_SID, "account_token": "t" * 32}).json()
    number_id = number["phone_number"]["id"]
    tenant.post("phone_number/attach", json={"phone_number_id": number_id, "agent_id": agent_id})
    assert tenant.delete(f"agents/{agent_id}").status_code == 200
    assert tenant.get(f"agents/{agent_id}").status_code == 404
    from chalicelib.db.models import PostCallAction

    assert list(PostCallAction.query(f"{tenant.account_id}#{agent_id}")) == []
    assert tenant.get("phone_number/list").json()["phone_numbers"][0]["agent_id"] is None


def test_create_with_legacy_post_call_actions_creates_actions(tenant: Tenant) -> None:
    body = {**AGENT, "post_call_actions": {
        "email": {"enabled": True, "recipients": ["ops@example.com"], "include": ["summary"]},
        "webhook": {"enabled": True, "url": "https://example.com/hook", "include": ["fullConversation"]},
    }}
    agent_id = tenant.post("agents/create", json=body).json()["id"]
    actions = tenant.get(f"agents/{agent_id}/post-call-actions").json()["post_call_actions"]
    assert sorted(a["type"] for a in actions) == ["email", "webhook"]


def test_ids_are_integers_from_one_sequence(tenant: Tenant) -> None:
    first = tenant.post("agents/create", json=AGENT).json()["id"]
    second = tenant.post("agents/create", json=AGENT).json()["id"]
    assert isinstance(first, int) and second == first + 1


def test_an_agent_may_enable_fillers(tenant: Tenant) -> None:
    created = tenant.post("agents/create", json={**AGENT, "filler": {"enabled": True, "after_sec": 0.8}})
    assert created.status_code == 201, created.text
    assert tenant.get(f"agents/{created.json()['id']}").json()["filler"] == {"enabled": True, "after_sec": 0.8}
