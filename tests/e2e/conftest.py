"""The local stack, started exactly as ``make dev`` starts it, in a child process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.embedded_aws import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A fresh stack per test module, so one module's data (a 1,000-contact campaign) never slows another."""
    workdir = tmp_path_factory.mktemp("stack")
    state_file = workdir / "stack.json"
    log = (workdir / "stack.log").open("w")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PARLEY_"))}
    env.update(getattr(request.module, "STACK_ENV", {}))
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--api-port", str(free_port()), "--aws-port", str(free_port()),
         "--carrier-port", str(free_port()), "--streaming-port", str(free_port()),
         "--state-file", str(state_file)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 180  # with voice, the streaming service loads its models first
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"local stack did not start:\n{(workdir / 'stack.log').read_text()}")
        time.sleep(0.1)
    stack = json.loads(state_file.read_text())
    stack["process"] = process
    stack["state_file"] = state_file
    stack["log_file"] = workdir / "stack.log"
    yield stack
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    log.close()
