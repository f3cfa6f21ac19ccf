"""Deployment settings, read once from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    table_prefix: str
    region: str
    kms_key_id: str | None
    local_secret_key: str | None
    max_body_bytes: int
    search_kms_key_id: str | None = None  # seals accounts' web search API keys (secrets_box.search_secret_box)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_prefix=os.environ.get("PARLEY_TABLE_PREFIX", "parley"),
            region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
            kms_key_id=os.environ.get("PARLEY_KMS_KEY_ID") or None,
            local_secret_key=os.environ.get("PARLEY_LOCAL_SECRET_KEY") or None,
            max_body_bytes=int(os.environ.get("PARLEY_MAX_BODY_BYTES", str(256 * 1024))),
            search_kms_key_id=os.environ.get("PARLEY_SEARCH_KMS_KEY_ID") or None,
        )


def physical_table_name(suffix: str) -> str:
    """Physical table name for a logical table, e.g. ``parley-agents``."""
    return f"{Settings.from_env().table_prefix}-{suffix}"
