"""``python -m devstack.embedded_aws_server -H 127.0.0.1 -p PORT``: moto server with DynamoDB made
atomic per request (see ``moto_dynamodb``)."""
from __future__ import annotations

import sys

from devstack import moto_sqs
from devstack.moto_dynamodb import install

if __name__ == "__main__":
    install()
    moto_sqs.install()  # receives stay fast with deep queues
    from moto.server import main

    sys.exit(main())
