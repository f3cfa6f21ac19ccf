"""The few places Parley depends on a library's internals fail here, loudly, when the installed library changes.

Each internal is used in one module: moto's (``devstack/moto_patches.py``, tied to one moto minor version),
PynamoDB's (``chalicelib/db/warm_up.py``, and the item layout ``chalicelib/db/transactions.py`` relies on)
and botocore's (``chalicelib/credential_expiry.py``). Chalice's is in ``tests/infra/test_parts.py``.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, RefreshableCredentials
from pynamodb.connection import Connection

from chalicelib.credential_expiry import signing_credentials_expiry
from chalicelib.db.models import Agent, Call, PhoneNumber, UniqueClaim
from chalicelib.db.transactions import SEND_ORDER, Transaction, failed_tables
from chalicelib.db.warm_up import warm_up
from devstack.moto_patches import TESTED_MOTO_MINOR

REPO = Path(__file__).resolve().parents[1]


def test_installed_moto_is_the_minor_version_the_patches_were_tested_with() -> None:
    installed_minor = ".".join(version("moto").split(".")[:2])
    assert installed_minor == TESTED_MOTO_MINOR, (
        f"moto {version('moto')} is installed; devstack/moto_patches.py is tested with {TESTED_MOTO_MINOR}: "
        "re-check each patch against the new moto, then bump TESTED_MOTO_MINOR and requirements-dev.txt")


def test_requirements_pin_moto_to_the_tested_minor_version() -> None:
    pins = re.findall(r"^moto\[server\]==([\d.]+)\.\*", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pins == [TESTED_MOTO_MINOR]


def test_warm_up_builds_each_models_dynamodb_client() -> None:
    warm_up(Call, Agent)
    for model in (Call, Agent):
        client = model._get_connection().connection.client  # what warm_up reaches through PynamoDB's internals
        assert client.meta.service_model.service_name == "dynamodb"


class _RecordingConnection(Connection):
    """Answers every request with nothing and keeps what would have been sent."""

    def __init__(self) -> None:
        super().__init__(region="us-east-1")
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def dispatch(self, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((operation_name, operation_kwargs))
        return {}


def test_transaction_items_are_sent_grouped_by_kind_in_send_order() -> None:
    """``failed_tables`` pairs DynamoDB's per-item cancellation reasons with ``Transaction.sent_tables()``:
    that is only right while PynamoDB lays the items out as ``SEND_ORDER`` says."""
    connection = _RecordingConnection()
    tx = Transaction(connection=connection)
    with tx:  # added in the reverse of the order they are sent
        tx.update(Call(1, 2), actions=[Call.status.set("ringing")])
        tx.save(UniqueClaim("phone#1#+15550100", owner="3"))
        tx.delete(PhoneNumber(1, 3))
        tx.condition_check(Agent, 1, 4, condition=Agent.agent_id.exists())
    ((operation, request),) = connection.sent
    assert operation == "TransactWriteItems"
    items = request["TransactItems"]
    assert [next(iter(item)) for item in items] == list(SEND_ORDER)
    assert [next(iter(item.values()))["TableName"] for item in items] == tx.sent_tables()
    assert tx.sent_tables() == [Agent.Meta.table_name, PhoneNumber.Meta.table_name, UniqueClaim.Meta.table_name,
                                Call.Meta.table_name]


class _Cancelled(Exception):
    def __init__(self, codes: list[str | None]) -> None:
        super().__init__("cancelled")
        self.cancellation_reasons = [type("Reason", (), {"code": code})() if code else None for code in codes]


def test_failed_tables_names_the_table_whose_condition_failed() -> None:
    tx = Transaction(connection=_RecordingConnection())
    tx.update(Call(1, 2), actions=[Call.status.set("ringing")])
    tx.condition_check(Agent, 1, 4, condition=Agent.agent_id.exists())
    assert failed_tables(tx, _Cancelled(["ConditionalCheckFailed", None])) == {Agent.Meta.table_name}
    assert failed_tables(tx, _Cancelled([None, "ConditionalCheckFailed"])) == {Call.Meta.table_name}


class _RoleCredentials(CredentialProvider):
    METHOD = "test-role"

    def __init__(self, expires: datetime) -> None:
        super().__init__()
        self._expires = expires

    def load(self) -> RefreshableCredentials:
        metadata = {"access_key": "AKIDTEST", "secret_key": "secret", "token": "token",
                    "expiry_time": self._expires.isoformat()}
        return RefreshableCredentials.create_from_metadata(metadata, refresh_using=lambda: metadata,
                                                           method=self.METHOD)


def test_signing_credentials_expiry_reads_role_credentials_and_is_none_for_long_term_keys() -> None:
    expires = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    session = botocore.session.Session()
    session.get_component("credential_provider").insert_before("env", _RoleCredentials(expires))
    role_client = boto3.session.Session(botocore_session=session).client("s3", region_name="us-east-1")
    assert signing_credentials_expiry(role_client) == expires

    keys_client = boto3.session.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                                        region_name="us-east-1").client("s3")
    assert signing_credentials_expiry(keys_client) is None
