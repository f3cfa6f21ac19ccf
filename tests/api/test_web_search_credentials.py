"""/web_search/credentials: an account's Tavily/Exa keys are sealed, listed without the key, removable, per account,
and what the streaming service opens for a call."""
from __future__ import annotations

from chalicelib.db.models import Account
from chalicelib.domain.search_credentials import keys_for_call
from chalicelib.secrets_box import secret_box_from_settings
from tests.conftest import Tenant

PATH = "web_search/credentials"
TAVILY_KEY = "tvly-abcdef0123456789"
EXA_KEY = "exa-0123456789abcdef"


def _statuses(tenant: Tenant) -> dict[str, bool]:
    response = tenant.get(PATH)
    assert response.status_code == 200, response.text
    return {entry["provider"]: entry["configured"] for entry in response.json()["credentials"]}


def test_keys_are_stored_sealed_and_never_returned(tenant: Tenant) -> None:
    assert _statuses(tenant) == {"Tavily": False, "Exa": False}
    stored = tenant.put(PATH, json={"provider": "tavily", "api_key": TAVILY_KEY})
    assert stored.status_code == 200, stored.text
    assert stored.json()["provider"] == "Tavily" and stored.json()["configured"] is True
    assert stored.json()["updated_at"] is not None
    assert tenant.put(PATH, json={"provider": "Exa", "api_key": EXA_KEY}).status_code == 200
    listing = tenant.get(PATH)
    assert TAVILY_KEY not in listing.text and EXA_KEY not in listing.text
    assert _statuses(tenant) == {"Tavily": True, "Exa": True}

    sealed = Account.get(tenant.account_id).sealed_search_keys
    assert sealed is not None and TAVILY_KEY.encode() not in sealed
    opened = secret_box_from_settings().open(sealed, account_id=tenant.account_id)
    assert opened["Tavily"]["api_key"] == TAVILY_KEY
    assert keys_for_call(tenant.account_id) == {"Tavily": TAVILY_KEY, "Exa": EXA_KEY}


def test_a_key_is_replaced_and_removed(tenant: Tenant) -> None:
    tenant.put(PATH, json={"provider": "Tavily", "api_key": TAVILY_KEY})
    tenant.put(PATH, json={"provider": "Tavily", "api_key": "tvly-replacement-key"})
    assert keys_for_call(tenant.account_id) == {"Tavily": "tvly-replacement-key"}
    removed = tenant.delete(PATH, params={"provider": "TAVILY"})
    assert removed.status_code == 200 and removed.json() == {"provider": "Tavily", "configured": False,
                                                              "updated_at": None}
    assert keys_for_call(tenant.account_id) == {}
    assert Account.get(tenant.account_id).sealed_search_keys is None
    assert tenant.delete(PATH, params={"provider": "Exa"}).status_code == 200  # none stored: still fine


def test_keys_belong_to_one_account(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.put(PATH, json={"provider": "Exa", "api_key": EXA_KEY})
    assert _statuses(other_tenant) == {"Tavily": False, "Exa": False}
    assert keys_for_call(other_tenant.account_id) == {}


def test_bad_requests_are_clear(tenant: Tenant) -> None:
    keyless = tenant.put(PATH, json={"provider": "DuckDuckGo", "api_key": TAVILY_KEY})
    assert keyless.status_code == 422
    assert keyless.json()["error_description"] == (
        "provider: 'DuckDuckGo' needs no API key; keys are stored for Tavily, Exa")
    unknown = tenant.put(PATH, json={"provider": "Bing", "api_key": TAVILY_KEY})
    assert unknown.status_code == 422 and "'Bing' is not a web search provider" in unknown.json()["error_description"]
    short = tenant.put(PATH, json={"provider": "Exa", "api_key": "x"})
    assert short.status_code == 422 and short.json()["error_description"].startswith("api_key:")
    spaced = tenant.put(PATH, json={"provider": "Exa", "api_key": "has spaces in it"})
    assert spaced.status_code == 422 and spaced.json()["field"] == "api_key"
    missing = tenant.delete(PATH)
    assert missing.status_code == 422 and missing.json()["error_description"] == "provider: field required"


def test_an_account_without_keys_or_gone_has_none_for_a_call(aws: None) -> None:
    assert keys_for_call(987654) == {}


def test_the_streaming_service_searches_tavily_with_the_accounts_key(tenant: Tenant) -> None:
    import asyncio
    import json

    from chalicelib.domain.agent_settings import WebSearch
    from streaming.search import account_search_keys, provider_for, search_with_deadline
    from tests.delivery.test_safe_http import Answer, Receiver

    tenant.put(PATH, json={"provider": "Tavily", "api_key": TAVILY_KEY})
    keys = asyncio.run(account_search_keys(tenant.account_id))
    with Receiver() as tavily:
        found = {"title": "Ferry", "url": "https://harborline.example.com", "content": "14 dollars", "score": 0.9}
        tavily.route = lambda seen: Answer(200, json.dumps({"results": [found]}).encode())
        env = {"PARLEY_TAVILY_API_URL": tavily.url(""), "PARLEY_SEARCH_ALLOWED_NETWORKS": "127.0.0.0/8"}
        provider = provider_for(WebSearch(enabled=True, provider="Tavily"), keys, env)
        results = asyncio.run(search_with_deadline(provider, "ferry price"))
    assert results[0].snippet == "14 dollars"
    assert tavily.requests[0].headers["authorization"] == f"Bearer {TAVILY_KEY}"


def test_unreadable_keys_give_a_call_none(tenant: Tenant, monkeypatch) -> None:
    import asyncio

    from streaming.search import account_search_keys

    tenant.put(PATH, json={"provider": "Exa", "api_key": EXA_KEY})
    other_box_key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # the blob does not open with another key
    monkeypatch.setenv("PARLEY_LOCAL_SECRET_KEY", other_box_key)
    assert asyncio.run(account_search_keys(tenant.account_id)) == {}


def test_an_agents_search_provider_is_one_there_is(tenant: Tenant) -> None:
    from tests.conftest import AGENT

    unknown = tenant.post("agents/create", json={**AGENT, "web_search": {"enabled": False, "provider": "Google"}})
    assert unknown.status_code == 422
    assert unknown.json()["error_description"] == (
        "web_search.provider: unknown web search provider 'Google'; the providers are DuckDuckGo, SearXNG, Tavily, Exa")
    created = tenant.post("agents/create", json={**AGENT, "web_search": {"enabled": False, "provider": "searxng"}})
    assert created.status_code == 201, created.text
    assert created.json()["web_search"] == {"enabled": False, "provider": "SearXNG"}


def test_in_aws_search_keys_are_sealed_with_their_own_kms_key(aws: None, monkeypatch) -> None:
    """The streaming task may decrypt with the search-keys key only: the blob must not need the secrets key."""
    import boto3
    import pytest

    from chalicelib.domain.accounts import create_account
    from chalicelib.domain.search_credentials import put_key

    kms = boto3.client("kms", region_name="us-east-1")
    search_key = kms.create_key(Description="search keys")["KeyMetadata"]["Arn"]
    secrets_key = kms.create_key(Description="secrets")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("PARLEY_SEARCH_KMS_KEY_ID", search_key)
    monkeypatch.setenv("PARLEY_KMS_KEY_ID", secrets_key)
    account_id = create_account("KMS").account_id
    put_key(account_id, "Exa", EXA_KEY)
    assert keys_for_call(account_id) == {"Exa": EXA_KEY}
    blob = Account.get(account_id).sealed_search_keys
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"parley:account_id": str(account_id)})["KeyId"] == (
        search_key)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):  # bound to the account
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"parley:account_id": str(account_id + 1)})
