"""The one way Parley makes AWS clients: one per service (and config) per process, shared by threads.

Creating a boto3 client costs tens of milliseconds of CPU (it loads the service's JSON model), so no code
builds one per request or per row. boto3's default session is not safe to create clients from in several
threads at once, so clients are made from a private session under a lock; a made client is thread-safe.
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str | None, str, str | None], Any] = {}
_S3V4 = Config(signature_version="s3v4")


def client(service: str, *, region: str | None = None, config: Config | None = None,
           endpoint_url: str | None = None) -> Any:
    """The process's client for ``service`` (endpoint and credentials from the environment at first use,
    unless ``endpoint_url`` names one: API Gateway's management API lives at each WebSocket API's own URL)."""
    key = (service, region, repr(config.__dict__) if config is not None else "", endpoint_url)
    found = _CLIENTS.get(key)
    if found is not None:
        return found
    with _LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            found = boto3.session.Session().client(service, region_name=region, config=config,
                                                   endpoint_url=endpoint_url)
            _CLIENTS[key] = found
        return found


def s3() -> Any:
    """S3 that presigns with SigV4 (KMS-encrypted objects accept nothing else)."""
    return client("s3", config=_S3V4)


def reset() -> None:
    """Forget every client (tests and the local stack, after they change the AWS endpoint or credentials)."""
    with _LOCK:
        _CLIENTS.clear()
