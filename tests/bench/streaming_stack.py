"""What the voice benchmarks share: the embedded AWS with the tables, bucket and bus the streaming
service needs, and the streaming service itself as its own process (as in the local stack)."""
from __future__ import annotations

import os
import tempfile
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
