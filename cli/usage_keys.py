"""Each account's API Gateway key, registered with the stage's usage plan (its per-account throttle).

API Gateway throttles by API Gateway key. Parley's callers send Parley keys, so the REST API takes the
API Gateway key from the authorizer (``usageIdentifierKey``): one key per account, named after the plan
and the account, created the first time a Parley key is issued for the account and reused after that.
The value is random and never shown to callers; it is stored with each of the account's Parley keys.
"""
from __future__ import annotations

import secrets
from typing import Any

from chalicelib import aws_clients


class GatewayUsageKeys:
    """``UsageKeys`` backed by API Gateway: find or create the account's key and add it to the plan."""

    def __init__(self, usage_plan_id: str, client: Any | None = None) -> None:
        self.usage_plan_id = usage_plan_id
        self._client = client or aws_clients.client("apigateway")

    def key_name(self, account_id: int) -> str:
        return f"parley-{self.usage_plan_id}-account-{account_id}"

    def __call__(self, account_id: int) -> str:
        name = self.key_name(account_id)
        key = self._find(name) or self._client.create_api_key(
            name=name,
            description=f"Parley account {account_id}: its throttle (the authorizer returns it; callers never send it)",
            enabled=True,
            value=secrets.token_urlsafe(30),
        )
        try:
            self._client.create_usage_plan_key(usagePlanId=self.usage_plan_id, keyId=key["id"], keyType="API_KEY")
        except self._client.exceptions.ConflictException:
            pass  # already in the plan
        return str(key["value"])

    def _find(self, name: str) -> dict[str, Any] | None:
        for page in self._client.get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=True):
            for key in page.get("items", []):
                if key.get("name") == name:
                    return dict(key)
        return None
