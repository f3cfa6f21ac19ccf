"""What the voice benchmarks share: the embedded AWS with the tables, bucket and bus the streaming
service needs, and the streaming service itself as its own process (as in the local stack)."""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.embedded_aws import LOCAL_CREDENTIALS, EmbeddedAws, StreamingProcess, free_port


@dataclass
class BenchStack:
    secret: str
    streaming: StreamingProcess | None = field(default=None)

    def start_streaming(self, log_name: str) -> StreamingProcess:
        """Start the service (after the call records exist); its log goes to the temp directory."""
        self.streaming = StreamingProcess.start(free_port(), log_path=Path(tempfile.gettempdir()) / log_name)
        return self.streaming


@contextmanager
def bench_stack(table_prefix: str, secret: str, env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    os.environ.update(LOCAL_CREDENTIALS)
    aws = EmbeddedAws.start(free_port())
    os.environ.update({"AWS_ENDPOINT_URL": aws.endpoint_url, "PARLEY_TABLE_PREFIX": table_prefix,
                       "PARLEY_STREAM_TOKEN_SECRET": secret, "PARLEY_DRAIN_TIMEOUT_S": "5", **(env or {})})
    stack = BenchStack(secret)
    try:
        from devstack import local_resources

        local_resources.create_tables()
        local_resources.create_bucket()
        local_resources.create_bus()
        yield stack
    finally:
        if stack.streaming is not None:
            stack.streaming.stop(timeout=30)
        aws.stop()


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used, resident bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (every process, all cores), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def service_stats(url: str) -> dict:
    """The streaming service's ``/stats``."""
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as answer:
        return json.loads(answer.read())


async def wait_finalized(url: str, calls: int, timeout: float = 120) -> dict:
    """The service's ``/stats`` once ``calls`` calls were finalized (or failed to be), or at the deadline."""
    deadline = time.monotonic() + timeout
    stats = service_stats(url)
    while stats["counters"].get("finalized", 0) + stats["counters"].get("finalize_errors", 0) < calls \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        stats = service_stats(url)
    return stats
