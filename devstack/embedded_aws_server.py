"""``python -m devstack.embedded_aws_server -H 127.0.0.1 -p PORT``: moto server with DynamoDB made
atomic per request (see ``moto_dynamodb``), SQS kept fast with deep queues (see ``moto_sqs``), and
its request routing made cheap (below)."""
from __future__ import annotations

import logging
import sys

from devstack import moto_sqs
from devstack.moto_dynamodb import install


def cache_backend_names() -> None:
    """moto's server routes every request by listing its package directory (``os.listdir`` and an
    ``isdir`` per entry, ~150 of them): a third of its time under load. The list never changes."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names  # type: ignore[assignment]


def quiet_request_log() -> None:
    """werkzeug logs a line per request (a tenth of the server's time under load); errors still show."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


if __name__ == "__main__":
    install()
    quiet_request_log()
    moto_sqs.install()  # receives stay fast with deep queues
    cache_backend_names()
    from moto.server import main

    sys.exit(main())
