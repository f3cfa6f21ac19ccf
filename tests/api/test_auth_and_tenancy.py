"""Every endpoint needs a valid key, and one account never sees another's data."""
from __future__ import annotations

import requests

from tests.conftest import AGENT, TWILIO_SID, Tenant

TOKEN = "f" * 32


def test_missing_key_gets_401_json(tenant: Tenant) -> None:
    response = requests.get(tenant.url("agents"))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "error_description" in response.json()


def test_wrong_key_gets_401_json(tenant: Tenant) -> None:
    for header in ("Bearer pk_not-a-real-key", "Basic abc", "Bearer", tenant.api_key):
        response = requests.get(tenant.url("agents"), headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"] == "unauthorized"


def test_unknown_route_is_404_json(tenant: Tenant) -> None:
    response = tenant.get("no/such/route")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_api_keys_are_stored_only_as_digests(tenant: Tenant) -> None:
    from chalicelib.db.models import ApiKey

    stored = [item.attribute_values for item in ApiKey.scan()]
    assert stored and all(tenant.api_key not in str(values) for values in stored)


def _seed(tenant: Tenant) -> dict[str, int]:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    action = tenant.post(f"agents/{agent}/post-call-actions",
                         json={"type": "webhook", "url": "https://example.com/hook"}).json()["id"]
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+14155550100", "account_sid": TWILIO_SID, "account_token": TOKEN}).json()
    number_id = number["phone_number"]["id"]
    call = tenant.post("calls/dispatch", json={"agent_id": agent, "to_number": "+14155550123",
                                               "from_number_id": number_id}).json()["call_id"]
    return {"agent": agent, "action": action, "number": number_id, "call": call}


def test_other_account_gets_404_for_everything(tenant: Tenant, other_tenant: Tenant) -> None:
    ids = _seed(tenant)
    agent, action, number, call = ids["agent"], ids["action"], ids["number"], ids["call"]
    attempts = [
        ("get", f"agents/{agent}", None),
        ("put", f"agents/{agent}", {"name": "stolen"}),
        ("delete", f"agents/{agent}", None),
        ("get", f"agents/{agent}/post-call-actions", None),
        ("post", f"agents/{agent}/post-call-actions", {"type": "webhook", "url": "https://evil.example/x"}),
        ("patch", f"agents/{agent}/post-call-actions/{action}", {"url": "https://evil.example/x"}),
        ("delete", f"agents/{agent}/post-call-actions/{action}", None),
        ("get", f"agents/{agent}/post-call-actions/{action}/secret", None),
        ("get", f"calls/logs/{call}", None),
        ("post", "calls/dispatch", {"agent_id": agent, "to_number": "+14155550123"}),
        ("post", "phone_number/attach", {"phone_number_id": number, "agent_id": agent}),
        ("post", "phone_number/detach", {"phone_number_id": number}),
    ]
    for method, path, body in attempts:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(other_tenant, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "not_found"
    assert other_tenant.get("agents").json()["agents"] == []
    assert other_tenant.get("calls/logs").json()["call_log_data"] == []
    assert other_tenant.get("phone_number/list").json()["phone_numbers"] == []
    # ...and nothing of the owner changed.
    assert tenant.get(f"agents/{agent}").json()["name"] == AGENT["name"]
    assert tenant.get(f"agents/{agent}/post-call-actions").json()["total"] == 1


def test_an_account_may_import_a_number_another_account_also_holds(tenant: Tenant, other_tenant: Tenant) -> None:
    body = {"phone_number": "+14155550100", "account_sid": TWILIO_SID, "account_token": TOKEN}
    assert tenant.post("phone_number/import/twilio", json=body).status_code == 201
    assert other_tenant.post("phone_number/import/twilio", json=body).status_code == 201


def test_concurrent_requests_from_two_accounts_each_see_their_own_request(tenant: Tenant, other_tenant: Tenant) -> None:
    """The local gateway serves requests at once, as several Lambda containers would, and concurrent
    requests of two accounts each create and read their own agents. Whether a mix-up shows here depends
    on thread timing (it rarely does); the test below forces the interleaving that would cause one."""
    from concurrent.futures import ThreadPoolExecutor

    def create(job: tuple[Tenant, int]) -> tuple[int, str, int]:
        owner, n = job
        session = requests.Session()  # one connection per thread
        session.headers["Authorization"] = f"Bearer {owner.api_key}"
        agent = session.post(owner.url("agents/create"), json={**AGENT, "name": f"{owner.account_id}-{n}"}, timeout=30)
        assert agent.status_code == 201, agent.text
        seen = session.get(owner.url(f"agents/{agent.json()['id']}"), timeout=30)
        return owner.account_id, seen.json()["name"], seen.status_code

    jobs = [(owner, n) for n in range(12) for owner in (tenant, other_tenant)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, jobs))
    assert all(status == 200 and name.startswith(f"{account}-") for account, name, status in results)
    assert sorted(name for _, name, _ in results) == sorted(f"{o.account_id}-{n}" for o, n in jobs)
    for owner in (tenant, other_tenant):
        names = {a["name"] for a in owner.get("agents", params={"pagesize": 50}).json()["agents"]}
        assert names == {f"{owner.account_id}-{n}" for n in range(12)}


def test_each_gateway_thread_keeps_its_own_current_request() -> None:
    import threading

    from chalice import Chalice

    from devstack.api_gateway import serve_requests_concurrently

    app = Chalice("concurrency")
    serve_requests_concurrently(app)
    serve_requests_concurrently(app)  # idempotent
    both_set = threading.Barrier(2)
    seen: dict[str, object] = {}

    def serve(name: str) -> None:
        app.current_request, app.lambda_context = f"request-{name}", f"context-{name}"  # type: ignore[assignment]
        both_set.wait(timeout=5)  # the other thread has set its own by now
        seen[name] = (app.current_request, app.lambda_context)

    threads = [threading.Thread(target=serve, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": ("request-a", "context-a"), "b": ("request-b", "context-b")}
    assert app.current_request is None  # this thread served nothing
