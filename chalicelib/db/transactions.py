"""One helper to open a DynamoDB transaction with the configured region."""
from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings


def transaction(client_request_token: str | None = None) -> TransactWrite:
    return TransactWrite(
        connection=Connection(region=Settings.from_env().region),
        client_request_token=client_request_token,
    )


def cancellation_codes(error: Exception) -> list[str]:
    """The per-item cancellation reasons of a failed TransactWriteItems (``ConditionalCheckFailed``...)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [reason.code if reason else "None" for reason in reasons]
