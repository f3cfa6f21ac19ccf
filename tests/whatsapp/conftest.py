"""The WhatsApp tests' stand-ins (Graph API, streaming service) wired into the API served over HTTP."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import AGENT, Tenant
from tests.whatsapp.fakes import FakeGraph, FakeMedia

SECRET = "test-stream-secret"  # tests/conftest.py's PARLEY_STREAM_TOKEN_SECRET
NUMBER, META_ID = "+14155550100", "106540352242922"
ACCESS_TOKEN, APP_SECRET = "EAAG" + "x" * 60, "0f1e" * 8
USER = "447700900123"


@dataclass
class WhatsApp:
    graph: FakeGraph
    media: FakeMedia
    api: str


@pytest.fixture()
def wa(api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[WhatsApp]:
    graph, media = FakeGraph().start(), FakeMedia(SECRET).start()
    monkeypatch.setenv("PARLEY_GRAPH_API_URL", graph.url + "/v21.0")
    monkeypatch.setenv("PARLEY_WHATSAPP_MEDIA_URL", media.url + "/whatsapp")
    yield WhatsApp(graph, media, api)
    graph.stop()
    media.stop()


def import_number(tenant: Tenant, number: str = NUMBER, meta_id: str = META_ID, **extra: Any) -> dict[str, Any]:
    answer = tenant.post("phone_number/import/whatsapp", json={
        "phone_number": number, "whatsapp_phone_number_id": meta_id, "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()["phone_number"]


def attached_number(tenant: Tenant, **agent: Any) -> tuple[int, dict[str, Any]]:
    agent_id = tenant.post("agents/create", json={**AGENT, **agent}).json()["id"]
    number = import_number(tenant)
    assert tenant.post("phone_number/attach", json={"phone_number_id": number["id"], "agent_id": agent_id}
                       ).status_code == 200
    return agent_id, number


def signature(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_webhook(url: str, body: dict[str, Any] | bytes, secret: str | None = APP_SECRET) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = signature(raw, secret)
    return requests.post(url, data=raw, headers=headers, timeout=20)


def calls_change(*, calls: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
                 meta_id: str = META_ID) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": NUMBER[1:], "phone_number_id": meta_id},
                             "contacts": [{"profile": {"name": "Ada"}, "wa_id": USER}]}
    if calls is not None:
        value["calls"] = calls
    if statuses is not None:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "calls", "value": value}]}]}


def user_connect(wacid: str = "wacid.USER1") -> dict[str, Any]:
    return calls_change(calls=[{"id": wacid, "from": USER, "to": NUMBER[1:], "event": "connect",
                                "timestamp": "1733220000", "direction": "USER_INITIATED",
                                "session": {"sdp_type": "offer", "sdp": "v=0\r\no=whatsapp offer\r\n"}}])


def terminate(wacid: str, status: str = "COMPLETED") -> dict[str, Any]:
    return calls_change(calls=[{"id": wacid, "from": USER, "to": NUMBER[1:], "event": "terminate",
                                "timestamp": "1733220090", "status": status, "duration": 42}])


def webhook_url(api: str, account_id: int, number_id: int) -> str:
    return f"{api}/api/v1/whatsapp/webhook/{account_id}/{number_id}"


def calls_of(tenant: Tenant) -> list[dict[str, Any]]:
    return tenant.get("calls/logs").json()["call_log_data"]


def task_link(gateway_url: str, task_id: str) -> Any:
    """A streaming task's monitoring link (as ``streaming.monitoring.task_link`` opens it): controls reach it."""
    from chalicelib.monitoring import tokens
    from devstack.monitor_client import MonitorClient

    return MonitorClient(f"{gateway_url}?task_token={tokens.issue_task_token(SECRET, task_id)}")


def held_by(account_id: int, call_id: int, task_id: str) -> None:
    """The task ``task_id`` holds the call (what the streaming service records when it takes it)."""
    from chalicelib.db.models import Call

    Call(account_id, call_id).update(actions=[Call.media_task.set(task_id)])
