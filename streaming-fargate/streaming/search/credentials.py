"""The account's web-search API keys for a call (opened from their sealed store, off the event loop)."""
from __future__ import annotations

import asyncio
import logging

from chalicelib.domain.search_credentials import keys_for_call

log = logging.getLogger("parley.streaming.search")


async def account_search_keys(account_id: int) -> dict[str, str]:
    """``{"Tavily": key, "Exa": key}`` (those stored) for ``provider_for(credentials=...)``; ``{}`` when the keys
    cannot be read (logged: the agent then says it cannot search, the call goes on)."""
    try:
        return await asyncio.to_thread(keys_for_call, account_id)
    except Exception:  # a DynamoDB or KMS failure must not end the call: searching with a keyed provider fails instead
        log.exception("could not open the account's web search keys", extra={"account_id": account_id})
        return {}
