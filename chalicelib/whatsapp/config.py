"""Where WhatsApp calls' signalling goes, from the environment.

- ``PARLEY_GRAPH_API_URL``: the Graph API (default ``https://graph.facebook.com/v21.0``; the local stack points it
  at the WhatsApp Cloud simulator). The same setting the WhatsApp post-call channel reads.
- ``PARLEY_WHATSAPP_MEDIA_URL``: the streaming service's ``/whatsapp`` base; unset, derived from
  ``PARLEY_WEB_OFFER_URL`` (``.../web/offer`` -> ``.../whatsapp``); neither: None (calls are refused).
- ``PARLEY_PUBLIC_API_URL``: the API's public base, for the webhook URL shown at import.
- ``PARLEY_WHATSAPP_RING_TIMEOUT_S``: how long a business-initiated call rings (default 60 s).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from chalicelib.telephony import stream_tokens

GRAPH_API_URL = "https://graph.facebook.com/v21.0"
DEFAULT_PUBLIC_API_URL = "http://127.0.0.1:8600"  # the local stack's, as the Twilio settings
DEFAULT_RING_TIMEOUT_S = 60
WEB_OFFER_SUFFIX = "/web/offer"


def media_url_from(explicit: str | None, web_offer_url: str | None) -> str | None:
    """The streaming service's ``/whatsapp`` base: ``explicit``, else ``web_offer_url`` with ``/web/offer``
    replaced by ``/whatsapp``; None when neither gives one."""
    if explicit:
        return explicit.rstrip("/")
    offer = (web_offer_url or "").rstrip("/")
    if offer.endswith(WEB_OFFER_SUFFIX):
        return offer.removesuffix(WEB_OFFER_SUFFIX) + "/whatsapp"
    return None


def graph_api_url() -> str:
    """``PARLEY_GRAPH_API_URL`` alone (what hanging up needs: no stream token secret is read)."""
    return os.environ.get("PARLEY_GRAPH_API_URL", GRAPH_API_URL).rstrip("/")


def _ring_timeout(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) <= 600 else DEFAULT_RING_TIMEOUT_S


@dataclass(frozen=True)
class WhatsAppConfig:
    graph_api_url: str
    media_url: str | None
    public_api_url: str
    stream_token_secret: str
    ring_timeout_s: int = DEFAULT_RING_TIMEOUT_S

    @classmethod
    def from_env(cls) -> WhatsAppConfig:
        env = os.environ
        return cls(graph_api_url=graph_api_url(),
                   media_url=media_url_from(env.get("PARLEY_WHATSAPP_MEDIA_URL"), env.get("PARLEY_WEB_OFFER_URL")),
                   public_api_url=env.get("PARLEY_PUBLIC_API_URL", DEFAULT_PUBLIC_API_URL).rstrip("/"),
                   stream_token_secret=stream_tokens.configured_secret(),
                   ring_timeout_s=_ring_timeout(env.get("PARLEY_WHATSAPP_RING_TIMEOUT_S")))


def webhook_url(account_id: int, phone_number_id: int, public_api_url: str | None = None) -> str:
    """The number's webhook (Meta's Callback URL): Parley's ids, not Meta's."""
    base = public_api_url or os.environ.get("PARLEY_PUBLIC_API_URL", DEFAULT_PUBLIC_API_URL).rstrip("/")
    return f"{base}/api/v1/whatsapp/webhook/{account_id}/{phone_number_id}"
