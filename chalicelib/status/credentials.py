"""The API key the probe's REST API check authenticates with: a dedicated account that holds no data.

- In AWS (``PARLEY_STATUS_KEY_SECRET_ARN``): the key lives in a Secrets Manager secret the stack creates; an
  operator fills it once (``README.md``, "Service status") with a key issued by ``cli.accounts``, so the probe
  only reads one secret and has no right to issue keys (the Lambdas cannot write the API key table).
- Without it (the local stack, tests): the probe issues itself an account and key on first use and keeps the
  key in this process's memory only.

A key the API refuses is forgotten (``forget``): the next probe reads the secret again (rotation) or, locally,
issues a new one. The key never appears in a beat, a log line or an error message.
"""
from __future__ import annotations

import os
import threading
import time

from chalicelib import aws_clients
from chalicelib.domain.accounts import KEY_PREFIX, create_account
from chalicelib.status.timeouts import PROBE_AWS_CONFIG

SECRET_ARN_VARIABLE = "PARLEY_STATUS_KEY_SECRET_ARN"
LOCAL_ACCOUNT_NAME = "Status probe"
SECRET_CACHE_S = 300.0
"""How long a key read from the secret is used before the secret is read again (a locally issued key is kept)."""

_lock = threading.Lock()
_cached: tuple[str, float] | None = None  # (key, monotonic time it expires)


def probe_api_key() -> str | None:
    """The key, or None while the deployment's secret holds no key yet."""
    global _cached
    with _lock:
        if _cached is not None and time.monotonic() < _cached[1]:
            return _cached[0]
        arn = os.environ.get(SECRET_ARN_VARIABLE)
        if arn:
            key = _read_secret(arn)
            _cached = (key, time.monotonic() + SECRET_CACHE_S) if key else None
            return key
        key = _issue_local_key()
        _cached = (key, float("inf"))
        return key


def forget(api_key: str) -> None:
    """The API refused ``api_key``: do not use it again."""
    global _cached
    with _lock:
        if _cached is not None and _cached[0] == api_key:
            _cached = None


def _read_secret(arn: str) -> str | None:
    value = aws_clients.client("secretsmanager", config=PROBE_AWS_CONFIG).get_secret_value(SecretId=arn)
    key = str(value.get("SecretString") or "").strip()
    return key if key.startswith(KEY_PREFIX) else None  # the stack's placeholder until an operator fills it


def _issue_local_key() -> str:
    return create_account(LOCAL_ACCOUNT_NAME).api_key


def reset() -> None:
    """Forget any key (tests: a new embedded AWS has none of the old tables' keys)."""
    global _cached
    with _lock:
        _cached = None
