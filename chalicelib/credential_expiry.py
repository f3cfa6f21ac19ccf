"""When the credentials an AWS client signs with expire: a presigned URL stops working then, whatever its
``ExpiresIn`` (role credentials in Lambda and ECS last hours, SigV4 allows 7 days).

botocore has no public way to read a client's credentials or their expiry. ``client._get_credentials()`` and
``RefreshableCredentials._expiry_time`` are the private botocore names Parley uses, here only;
``tests/test_third_party_adapters.py`` fails when the installed botocore changes either.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.observability import logger


def signing_credentials_expiry(client: Any) -> datetime | None:
    """When the credentials ``client`` signs with expire (UTC); None when they do not (long-term keys)."""
    get_credentials = getattr(client, "_get_credentials", None)
    if not callable(get_credentials):
        logger.warning("botocore client has no _get_credentials(): presigned URL expiry ignores the credentials")
        return None
    expiry = getattr(get_credentials(), "_expiry_time", None)  # temporary (role) credentials only
    return expiry.astimezone(UTC) if isinstance(expiry, datetime) else None
