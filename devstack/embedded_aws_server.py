"""``python -m devstack.embedded_aws_server -H 127.0.0.1 -p PORT``: moto's server app with DynamoDB made
atomic per request (see ``moto_dynamodb``), SQS kept fast with deep queues (see ``moto_sqs``), its
request routing made cheap (below), served with keep-alive connections (see ``keepalive_server``)."""
from __future__ import annotations

import argparse
import os

from devstack import moto_sqs
from devstack.moto_dynamodb import install


def cache_backend_names() -> None:
    """moto's server routes every request by listing its package directory (``os.listdir`` and an
    ``isdir`` per entry, ~150 of them): a third of its time under load. The list never changes."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names  # type: ignore[assignment]


def cache_jsonpath_parses() -> None:
    """moto's EventBridge compiles the JSONPaths of a target's input template for every event it routes
    (building a parser each time: an eighth of the server's time under load). The paths are few."""
    import functools

    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs (queue URLs) from it
    install()
    moto_sqs.install()  # receives stay fast with deep queues
    cache_backend_names()
    cache_jsonpath_parses()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from devstack.keepalive_server import KeepAliveWsgiServer

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined] - as moto's server sets it
    server = KeepAliveWsgiServer((args.host, args.port), app)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
