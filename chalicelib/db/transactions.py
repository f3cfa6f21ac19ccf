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


def transaction(client_request_token: str | None = None) -> TransactWrite:
    return TransactWrite(connection=_connection(Settings.from_env().region),
                         client_request_token=client_request_token)


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item cancellation reasons of a failed TransactWriteItems (``ConditionalCheckFailed``...)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [reason.code if reason else "None" for reason in reasons]
