"""A local webhook receiver for the delivery pipeline tests (over the embedded AWS)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.post_call.receivers import Receiver, serve


@pytest.fixture()
def receiver(aws: None) -> Iterator[Receiver]:
    with serve(Receiver()) as server:
        yield server
