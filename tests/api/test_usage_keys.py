"""Per-account throttling: each account's API Gateway key is made when its key is issued and returned by
the authorizer (``usageIdentifierKey``), so the deployed stage's usage plan meters every account."""
from __future__ import annotations

import json
from typing import Any

import pytest

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/GET/api/v1/agents"


def _authorize(api_key: str) -> dict[str, Any]:
    from chalicelib.api.auth import api_key_auth

    return api_key_auth({"type": "TOKEN", "authorizationToken": f"Bearer {api_key}", "methodArn": METHOD_ARN}, None)


@pytest.fixture()
def usage_plan(aws: None) -> str:
    from chalicelib import aws_clients

    aws_clients.reset()
    return str(aws_clients.client("apigateway").create_usage_plan(name="parley-test-accounts")["id"])


def _plan_keys(plan_id: str) -> dict[str, str]:
    from chalicelib import aws_clients

    client = aws_clients.client("apigateway")
    in_plan = {key["id"] for key in client.get_usage_plan_keys(usagePlanId=plan_id)["items"]}
    return {key["name"]: key["value"] for key in client.get_api_keys(includeValues=True)["items"]
            if key["id"] in in_plan}


def test_the_authorizer_returns_the_accounts_usage_key(usage_plan: str, capsys: pytest.CaptureFixture) -> None:
    from cli.accounts import main

    assert main(["--usage-plan-id", usage_plan, "create", "Acme"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["--usage-plan-id", usage_plan, "add-key", str(created["account_id"]), "--name", "ci"]) == 0
    second = json.loads(capsys.readouterr().out)
    keys = _plan_keys(usage_plan)
    assert list(keys) == [f"parley-{usage_plan}-account-{created['account_id']}"]  # one per account, in the plan
    for api_key in (created["api_key"], second["api_key"]):
        response = _authorize(api_key)
        assert response["principalId"] == str(created["account_id"])
        assert response["usageIdentifierKey"] == next(iter(keys.values()))


def test_keys_issued_before_the_plan_are_registered_once(usage_plan: str, capsys: pytest.CaptureFixture) -> None:
    from chalicelib.domain.accounts import create_account
    from cli.accounts import main

    issued = create_account("Old tenant")  # no usage plan yet
    assert "usageIdentifierKey" not in _authorize(issued.api_key)
    assert main(["--usage-plan-id", usage_plan, "register-usage-keys"]) == 0
    assert json.loads(capsys.readouterr().out) == {"registered": 1}
    (value,) = _plan_keys(usage_plan).values()
    assert _authorize(issued.api_key)["usageIdentifierKey"] == value
    assert main(["--usage-plan-id", usage_plan, "register-usage-keys"]) == 0
    assert json.loads(capsys.readouterr().out) == {"registered": 0}


def test_without_a_usage_plan_keys_carry_no_usage_key(aws: None) -> None:
    from chalicelib.domain.accounts import create_account

    response = _authorize(create_account("Local").api_key)
    assert "usageIdentifierKey" not in response and response["policyDocument"]["Statement"]
