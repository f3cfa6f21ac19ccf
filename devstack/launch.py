"""Start the whole local stack (``python -m devstack``) as a child process on free ports and wait for it:
what the end-to-end tests and the benchmarks run against."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack.embedded_aws import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def local_stack(
    workdir: Path, env: dict[str, str] | None = None, start_timeout_s: float = 180
) -> Iterator[dict[str, Any]]:
    """The stack's state (``.dev/stack.json`` contents) plus ``process``, ``state_file`` and ``log_file``."""
    state_file = workdir / "stack.json"
    log_path = workdir / "stack.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARLEY_"))}
    child_env.update(env or {})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", str(free_port()), "--aws-port", str(free_port()),
             "--carrier-port", str(free_port()), "--streaming-port", str(free_port()),
             "--monitor-port", str(free_port()),
             "--state-file", str(state_file)],
            cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + start_timeout_s  # with voice, the streaming service loads its models
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"local stack did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            stack = json.loads(state_file.read_text())
            stack.update(process=process, state_file=state_file, log_file=log_path)
            yield stack
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
