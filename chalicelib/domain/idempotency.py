"""``Idempotency-Key`` support: a retried create with the same key and body returns the first result.

The record is written in the same transaction as the thing it creates, so a crash can never leave
one without the other. A key reused with a different body is refused (422).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.db.models import IdempotencyRecord
from chalicelib.domain.errors import ValidationFailed

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    response: dict[str, Any]
    status_code: int


def record_key(account_id: int, scope: str, key: str) -> str:
    return f"{account_id}#{scope}#{key}"


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
                               field="Idempotency-Key")


def find(account_id: int, scope: str, key: str, body_hash: str) -> Replay | None:
    try:
        record = IdempotencyRecord.get(record_key(account_id, scope, key))
    except IdempotencyRecord.DoesNotExist:
        return None
    if record.request_hash != body_hash:
        raise ValidationFailed("this Idempotency-Key was already used with a different request body",
                               field="Idempotency-Key")
    return Replay(response=record.response, status_code=int(record.status_code))


def new_record(account_id: int, scope: str, key: str, body_hash: str,
               response: dict[str, Any], status_code: int) -> IdempotencyRecord:
    return IdempotencyRecord(
        record_key(account_id, scope, key), request_hash=body_hash, response=response,
        status_code=status_code, expires_at=timedelta(seconds=TTL_SECONDS),
    )
