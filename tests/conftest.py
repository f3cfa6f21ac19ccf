"""Shared fixtures: an in-process embedded AWS (moto), the tables, and the API served over real HTTP."""
from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("PARLEY_TABLE_PREFIX", "parley-test")
os.environ.setdefault("PARLEY_LOCAL_SECRET_KEY", base64.b64encode(b"k" * 32).decode())
os.environ.setdefault("PARLEY_STREAM_TOKEN_SECRET", "test-stream-secret")
os.environ.pop("AWS_ENDPOINT_URL", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked ``slow`` first (``make test`` spreads whole modules over two workers: the long ones
    starting first lets both workers finish together), each module's tests kept in their order."""
    def slow(item: pytest.Item) -> bool:
        return any(mark.name == "slow" for mark in item.iter_markers())

    slow_modules = {item.path for item in items if slow(item)}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: the order within each group stays


@pytest.fixture()
def aws() -> Iterator[None]:
    from moto import mock_aws

    from chalicelib import aws_clients
    from devstack import moto_patches

    moto_patches.install()  # DynamoDB atomic under concurrency, SQS fast with deep queues (see the module)
    aws_clients.reset()  # a client made outside this mock must not be reused inside it (nor one from inside, after)
    with mock_aws():
        from devstack import local_resources

        local_resources.create_all()
        yield
    aws_clients.reset()


@dataclass
class Tenant:
    account_id: int
    api_key: str
    session: requests.Session
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1/{path.lstrip('/')}"

    def get(self, path: str, **kw):
        return self.session.get(self.url(path), **kw)

    def post(self, path: str, json=None, **kw):
        return self.session.post(self.url(path), json=json, **kw)

    def put(self, path: str, json=None, **kw):
        return self.session.put(self.url(path), json=json, **kw)

    def patch(self, path: str, json=None, **kw):
        return self.session.patch(self.url(path), json=json, **kw)

    def delete(self, path: str, **kw):
        return self.session.delete(self.url(path), **kw)


@pytest.fixture()
def carrier() -> Iterator[object]:
    """The carrier simulator, in-process, with calls that ring and are answered after 0.2 s."""
    from devstack.carrier_sim import CarrierSimulator, SimRules

    sim = CarrierSimulator(SimRules(answer_delay=0.2, talk_time=0.2, seed=1)).start()
    yield sim
    sim.stop()


@pytest.fixture()
def api(aws: None, carrier, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Base URL of the app served over HTTP exactly as the local stack serves it, dialling the simulator."""
    from app import app
    from devstack.api_gateway import ApiGatewayServer

    server = ApiGatewayServer(app)
    monkeypatch.setenv("PARLEY_TWILIO_API_URL", carrier.url)
    monkeypatch.setenv("PARLEY_PUBLIC_API_URL", server.url)
    server.serve_in_thread()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def gateway(api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The monitoring WebSocket API (the app's handlers behind the API Gateway stand-in), wired to the app."""
    from app import app
    from devstack.websocket_gateway import WebSocketGateway

    gateway = WebSocketGateway(app).start()
    monkeypatch.setenv("PARLEY_MONITOR_URL", gateway.url)
    monkeypatch.setenv("PARLEY_MONITOR_MANAGEMENT_URL", gateway.management_url)
    yield gateway
    gateway.stop()


def make_tenant(base: str, name: str) -> Tenant:
    from chalicelib.domain.accounts import create_account

    issued = create_account(name)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {issued.api_key}"
    return Tenant(issued.account_id, issued.api_key, session, base)


@pytest.fixture()
def tenant(api: str) -> Tenant:
    return make_tenant(api, "acme")


@pytest.fixture()
def other_tenant(api: str) -> Tenant:
    return make_tenant(api, "globex")


AGENT = {
    "name": "Front desk",
    "context_breakdown": [{"title": "Role", "body": "You book dental appointments.", "is_enabled": True}],
    "welcome_message": "Hello, this is the clinic.",
}
TWILIO_SID = "AC" + "0123456789abcdef" * 2
