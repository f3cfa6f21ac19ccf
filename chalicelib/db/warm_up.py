"""Build PynamoDB's DynamoDB clients now, before a long-lived process serves its first request.

Creating a botocore client costs ~0.2 s of CPU, which would stall a real-time event loop on a call's first
write. PynamoDB makes each model's client on first use and has no public way to make it earlier:
``Model._get_connection()`` is the one private PynamoDB name Parley uses, here only.
``tests/test_third_party_adapters.py`` fails when the installed PynamoDB no longer has it.
"""
from __future__ import annotations

from pynamodb.models import Model

from chalicelib.db import transactions


def warm_up(*models: type[Model]) -> None:
    """Create the clients of ``models`` and of the transaction connection."""
    for model in models:
        model._get_connection().connection.client  # noqa: B018 - reading the property builds the client
    transactions.warm_up()
