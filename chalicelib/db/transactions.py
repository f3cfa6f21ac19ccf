"""One helper to open a DynamoDB transaction with the configured region."""
from __future__ import annotations

from functools import lru_cache

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings


@lru_cache(maxsize=4)
def _connection(region: str) -> Connection:
    # Creating a botocore client costs ~0.2 s; one per process (they are thread-safe), as the models do.
    return Connection(region=region)


def warm_up() -> None:
    """Create the transaction connection's client now (long-lived processes do it before serving)."""
    _connection(Settings.from_env().region).client  # noqa: B018


def transaction(client_request_token: str | None = None) -> TransactWrite:
    return TransactWrite(connection=_connection(Settings.from_env().region),
                         client_request_token=client_request_token)


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item cancellation reasons of a failed TransactWriteItems (``ConditionalCheckFailed``...)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [reason.code if reason else "None" for reason in reasons]


def failed_tables(tx: TransactWrite, error: Exception) -> set[str]:
    """Tables whose item's condition failed in a cancelled transaction.

    PynamoDB sends condition checks, then deletes, puts and updates (not the order they were added),
    and DynamoDB reports one reason per item in the order sent; this lines the two up.
    """
    sent = [*tx._condition_check_items, *tx._delete_items, *tx._put_items, *tx._update_items]
    return {item["TableName"] for item, code in zip(sent, cancellation_codes(error))
            if code == "ConditionalCheckFailed"}
