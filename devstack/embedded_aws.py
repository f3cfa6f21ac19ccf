"""Child processes of the local stack: the embedded AWS (moto server), the carrier simulator and the WhatsApp
Cloud API simulator, each bound to 127.0.0.1 and stopped with the stack."""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "parley-local",
    "AWS_SECRET_ACCESS_KEY": "parley-local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A port a server of the stack can listen on, below the kernel's ephemeral range.

    The kernel hands ephemeral ports to outgoing connections too: a port it gave us with ``bind(0)`` could be
    taken by any client connection (of this or a parallel test run) before our server binds it. Below that
    range only servers bind, so a random free port there stays free until we use it.
    """
    low, _high = _ephemeral_range()
    for _ in range(200):
        port = secrets.randbelow(low - PORTS_FROM) + PORTS_FROM
        if port_is_free(port):
            return port
    with socket.socket() as sock:  # a crowded machine: fall back to the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORTS_FROM = 20000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return max(int(low), PORTS_FROM + 1000), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def port_is_free(port: int) -> bool:
    """Whether a server of the stack can listen on ``port`` now.

    With ``SO_REUSEADDR``, as the stack's servers bind: connections the previous run left in TIME-WAIT do
    not count (a restart within a minute must just work); a socket listening on the port does.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ChildServer:
    """A server in a child process, ready once ``ready_path`` answers over HTTP."""

    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def launch(cls, module_args: list[str], port: int, ready_path: str, timeout: float = 30.0,
               env: dict[str, str] | None = None, log_path: Path | None = None) -> Self:
        output = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
        process = subprocess.Popen([sys.executable, "-m", *module_args], env=env,
                                   stdout=output, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL)
        server = cls(port, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{module_args[0]} exited with {process.returncode}")
            try:
                urllib.request.urlopen(f"{server.url}{ready_path}", timeout=1).close()
                return server
            except OSError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError(f"{module_args[0]} did not start in time")

    def stop(self, timeout: float = 5) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()


class EmbeddedAws(ChildServer):
    """moto server (DynamoDB made atomic per request) on loopback; moto would bind 0.0.0.0 by default."""

    @property
    def endpoint_url(self) -> str:
        return self.url

    @classmethod
    def start(cls, port: int) -> EmbeddedAws:
        return cls.launch(["devstack.embedded_aws_server", "-H", "127.0.0.1", "-p", str(port)], port, "/moto-api/")


class CarrierProcess(ChildServer):
    """The carrier simulator (Twilio REST API + signed status callbacks)."""

    @classmethod
    def start(cls, port: int, answer_delay: float = 0.5, talk_time: str = "1.0",
              recordings_dir: Path | None = None, log_path: Path | None = None) -> CarrierProcess:
        """``recordings_dir`` set: answered calls with a ``<Stream>`` get a scripted caller's voice."""
        voice = ["--voice", "--recordings-dir", str(recordings_dir)] if recordings_dir is not None else []
        return cls.launch(["devstack.carrier_sim", "--host", "127.0.0.1", "--port", str(port),
                           "--answer-delay", str(answer_delay), "--talk-time", talk_time, *voice], port,
                          "/sim/stats", log_path=log_path)


class WhatsAppSimProcess(ChildServer):
    """The WhatsApp Cloud API simulator (Graph calling API + signed ``calls`` webhooks + a WebRTC user)."""

    @property
    def graph_api_url(self) -> str:
        return f"{self.url}/v21.0"

    @classmethod
    def start(cls, port: int, log_path: Path | None = None) -> WhatsAppSimProcess:
        return cls.launch(["devstack.whatsapp_sim", "--host", "127.0.0.1", "--port", str(port)], port,
                          "/sim/whatsapp/calls", log_path=log_path)


class StreamingProcess(ChildServer):
    """The streaming service (``streaming-fargate``): Twilio media streams -> the voice pipeline.

    It loads the local speech and language models before it listens, so it gets a longer start time.
    """

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/twilio"

    @classmethod
    def start(cls, port: int, log_path: Path | None = None, timeout: float = 180.0) -> StreamingProcess:
        return cls.launch(["streaming", "--host", "127.0.0.1", "--port", str(port)], port, "/healthz",
                          timeout=timeout, log_path=log_path)
