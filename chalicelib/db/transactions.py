"""DynamoDB transactions: one connection per process, and which table's condition cancelled one."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings

SEND_ORDER = ("ConditionCheck", "Delete", "Put", "Update")
"""How PynamoDB's ``Connection.transact_write_items`` lays out ``TransactItems``: grouped by kind in this
order, whatever order they were added in. DynamoDB reports one cancellation reason per item in request order;
``tests/test_third_party_adapters.py`` checks it against the installed PynamoDB."""


@lru_cache(maxsize=4)
def _connection(region: str) -> Connection:
    # Creating a botocore client costs ~0.2 s; one per process (they are thread-safe), as the models do.
    return Connection(region=region)


def warm_up() -> None:
    """Create the transaction connection's client now (long-lived processes do it before serving)."""
    _connection(Settings.from_env().region).client  # noqa: B018 - reading the property builds the client


class Transaction(TransactWrite):
    """PynamoDB's ``TransactWrite`` that also records which table each item it sends belongs to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tables_by_kind: dict[str, list[str]] = {kind: [] for kind in SEND_ORDER}

    def condition_check(self, model_cls: type[Model], hash_key: Any, range_key: Any = None,
                        condition: Condition | None = None) -> None:
        super().condition_check(model_cls, hash_key, range_key=range_key, condition=condition)
        self._tables_by_kind["ConditionCheck"].append(model_cls.Meta.table_name)

    def delete(self, model: Model, condition: Condition | None = None, *, add_version_condition: bool = True) -> None:
        super().delete(model, condition=condition, add_version_condition=add_version_condition)
        self._tables_by_kind["Delete"].append(model.Meta.table_name)

    def save(self, model: Model, condition: Condition | None = None, return_values: str | None = None) -> None:
        super().save(model, condition=condition, return_values=return_values)
        self._tables_by_kind["Put"].append(model.Meta.table_name)

    def update(self, model: Model, actions: list[Action], condition: Condition | None = None,
               return_values: str | None = None, *, add_version_condition: bool = True) -> None:
        super().update(model, actions, condition=condition, return_values=return_values,
                       add_version_condition=add_version_condition)
        self._tables_by_kind["Update"].append(model.Meta.table_name)

    def sent_tables(self) -> list[str]:
        """The table of each item, in the order the request sends them (``SEND_ORDER``)."""
        return [table for kind in SEND_ORDER for table in self._tables_by_kind[kind]]


def transaction(client_request_token: str | None = None) -> Transaction:
    return Transaction(connection=_connection(Settings.from_env().region), client_request_token=client_request_token)


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item cancellation reasons of a failed TransactWriteItems (``ConditionalCheckFailed``...)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [reason.code if reason else "None" for reason in reasons]


def failed_tables(tx: Transaction, error: Exception) -> set[str]:
    """Tables whose item's condition failed in a cancelled transaction (DynamoDB reports one reason per
    item, in the order sent, which is not the order they were added: see ``SEND_ORDER``)."""
    return {table for table, code in zip(tx.sent_tables(), cancellation_codes(error), strict=False)
            if code == "ConditionalCheckFailed"}
