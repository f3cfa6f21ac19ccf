"""Campaign fixtures: an agent and a Twilio number, and the in-process local runner."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import AGENT, Tenant


@pytest.fixture()
def setup(tenant: Tenant) -> dict[str, int]:
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": "+15005550006", "account_sid": "AC" + "ef" * 16, "account_token": "tok_" + "z" * 28})
    return {"agent": agent, "number": number.json()["phone_number"]["id"]}


@pytest.fixture()
def runner(api: str) -> Iterator[object]:
    """The local stand-in for Lambda's SQS event sources and schedules, on the in-process moto."""
    import app as app_module
    from devstack.runner import runner_for_app

    local = runner_for_app(app_module, dial_workers=2)
    local.start()
    yield local
    local.stop()
