"""``python -m devstack.embedded_aws_server -H 127.0.0.1 -p PORT``: moto's server app with the local stack's
moto patches (DynamoDB atomic per request, SQS fast with deep queues, cheap routing: see ``moto_patches``),
served with keep-alive connections (see ``keepalive_server``)."""
from __future__ import annotations

import argparse
import os

from devstack import moto_patches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs (queue URLs) from it
    moto_patches.install(server=True)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from devstack.keepalive_server import KeepAliveWsgiServer

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto's server sets it
    server = KeepAliveWsgiServer((args.host, args.port), app)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
