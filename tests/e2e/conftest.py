"""The local stack, started exactly as ``make dev`` starts it, in a child process."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.launch import local_stack as launched


@pytest.fixture(scope="module")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A fresh stack per test module, so one module's data (a 1,000-contact campaign) never slows another."""
    with launched(tmp_path_factory.mktemp("stack"), getattr(request.module, "STACK_ENV", {})) as stack:
        yield stack
