"""The WhatsApp simulator alone, in this process on a free port, with a tone voice and quick retries."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.whatsapp_sim.server import SimServer
from devstack.whatsapp_sim.simulator import SimConfig
from devstack.whatsapp_sim.webhooks import RetryPolicy


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = SimServer(SimConfig(ring_timeout_s=20, media_timeout_s=15, voice_engine="tone",
                                 retry=RetryPolicy(attempts=3, first_backoff_s=0.05, timeout_s=5))).start()
    try:
        yield server
    finally:
        server.stop()
