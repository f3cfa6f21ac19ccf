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


PORT_TAKEN = ("address already in use", "is in use")
ATTEMPTS = 3


@contextmanager
def local_stack(
    workdir: Path, env: dict[str, str] | None = None, start_timeout_s: float = 180
) -> Iterator[dict[str, Any]]:
    """The stack's state (``.dev/stack.json`` contents) plus ``process``, ``state_file`` and ``log_file``.

    A port taken between choosing it and binding it (another run on the machine) makes the stack exit at
    start: it is started again on other ports, up to ``ATTEMPTS`` times.
    """
    state_file = workdir / "stack.json"
    log_path = workdir / "stack.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARLEY_"))}
    child_env.update(env or {})
    for attempt in range(1, ATTEMPTS + 1):
        process = _start(state_file, log_path, child_env)
        try:
            deadline = time.monotonic() + start_timeout_s  # with voice, the streaming service loads its models
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if state_file.exists():
                stack = json.loads(state_file.read_text())
                stack.update(process=process, state_file=state_file, log_file=log_path)
                yield stack
                return
            # The stack's log, and its processes' own (the carrier simulator writes its bind error to carrier.log).
            output = "".join(path.read_text(errors="replace") for path in sorted(workdir.glob("*.log")))
            if attempt == ATTEMPTS or not any(sign in output.lower() for sign in PORT_TAKEN):
                raise RuntimeError(f"local stack did not start:\n{output}")
        finally:
            _stop(process)


def _start(state_file: Path, log_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", str(free_port()), "--aws-port", str(free_port()),
             "--carrier-port", str(free_port()), "--streaming-port", str(free_port()),
             "--monitor-port", str(free_port()), "--search-port", str(free_port()),
             "--whatsapp-sim-port", str(free_port()),
             "--state-file", str(state_file)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
