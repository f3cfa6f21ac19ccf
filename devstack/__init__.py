"""The local stack (``python -m devstack``): embedded AWS (moto server), the Chalice app behind a local API
Gateway, the event-source runner, the carrier simulator and the streaming service, all on 127.0.0.1."""
