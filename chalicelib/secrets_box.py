"""Sealing of customer secrets (carrier tokens, channel credentials, webhook signing secrets).

Secrets are sealed before they are written and opened only where they are used; no endpoint ever
returns them. In AWS the box is KMS (``PARLEY_KMS_KEY_ID``); in development it is AES-GCM with a
local key (``PARLEY_LOCAL_SECRET_KEY``, base64 of 32 bytes). Both bind the sealed blob to the owning
account, so a blob copied to another account's item does not open.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any, Protocol

from chalicelib import aws_clients
from chalicelib.config import Settings


class SecretBox(Protocol):
    def seal(self, secrets: dict[str, Any], *, account_id: int) -> bytes: ...

    def open(self, blob: bytes, *, account_id: int) -> dict[str, Any]: ...


def _context(account_id: int) -> dict[str, str]:
    return {"parley:account_id": str(account_id)}


class KmsSecretBox:
    def __init__(self, key_id: str, client: Any | None = None) -> None:
        self._key_id = key_id
        self._client = client or aws_clients.client("kms")

    def seal(self, secrets: dict[str, Any], *, account_id: int) -> bytes:
        result = self._client.encrypt(
            KeyId=self._key_id,
            Plaintext=json.dumps(secrets).encode(),
            EncryptionContext=_context(account_id),
        )
        return bytes(result["CiphertextBlob"])

    def open(self, blob: bytes, *, account_id: int) -> dict[str, Any]:
        result = self._client.decrypt(
            CiphertextBlob=blob, KeyId=self._key_id, EncryptionContext=_context(account_id)
        )
        return json.loads(result["Plaintext"])


class LocalSecretBox:
    """AES-256-GCM with a key held in the local environment; for development only."""

    def __init__(self, key_b64: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = base64.b64decode(key_b64)
        if len(key) != 32:
            raise ValueError("PARLEY_LOCAL_SECRET_KEY must be base64 of 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def generate_key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    def seal(self, secrets: dict[str, Any], *, account_id: int) -> bytes:
        nonce = os.urandom(12)
        aad = json.dumps(_context(account_id), sort_keys=True).encode()
        return nonce + self._aead.encrypt(nonce, json.dumps(secrets).encode(), aad)

    def open(self, blob: bytes, *, account_id: int) -> dict[str, Any]:
        aad = json.dumps(_context(account_id), sort_keys=True).encode()
        return json.loads(self._aead.decrypt(blob[:12], blob[12:], aad))


def _box(kms_key_id: str | None, settings: Settings, what: str, setting: str) -> SecretBox:
    if kms_key_id:
        return KmsSecretBox(kms_key_id)
    if settings.local_secret_key:
        return LocalSecretBox(settings.local_secret_key)
    raise RuntimeError(f"no {what} configured: set {setting} or PARLEY_LOCAL_SECRET_KEY")


def secret_box_from_settings(settings: Settings | None = None) -> SecretBox:
    settings = settings or Settings.from_env()
    return _box(settings.kms_key_id, settings, "secret box", "PARLEY_KMS_KEY_ID")


def search_secret_box(settings: Settings | None = None) -> SecretBox:
    """The box for accounts' web search API keys: a KMS key of their own (``PARLEY_SEARCH_KMS_KEY_ID``), the only
    one the streaming service may decrypt with; in development the local key."""
    settings = settings or Settings.from_env()
    return _box(settings.search_kms_key_id, settings, "box for web search keys", "PARLEY_SEARCH_KMS_KEY_ID")
