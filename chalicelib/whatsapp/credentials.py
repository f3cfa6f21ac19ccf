"""A WhatsApp number's sealed secrets (``access_token``, ``app_secret``), opened where they are used.

The app secret checks every webhook before anything else is done, so it comes from the per-process cache of
opened tokens (``carrier_tokens``: no KMS call per forged request while it is fresh). The access token is
opened when Graph is called.
"""
from __future__ import annotations

from chalicelib.db.models import PhoneNumber
from chalicelib.domain.carrier_tokens import PROCESS_TOKENS, OpenedTokens
from chalicelib.secrets_box import SecretBox, secret_box_from_settings
from chalicelib.whatsapp.graph import GraphCalls

PROVIDER = "whatsapp"


class NotAWhatsAppNumber(Exception):
    """The number is not a WhatsApp number, or holds no sealed secrets."""


def meta_id(number: PhoneNumber) -> str:
    """Meta's phone number id of a WhatsApp number ("" for any other number)."""
    return str((number.settings or {}).get("whatsapp_phone_number_id", "")) if number.provider == PROVIDER else ""


def app_secret(number: PhoneNumber, tokens: OpenedTokens | None = None) -> str:
    """The number's app secret ("" when it is not a WhatsApp number with secrets)."""
    sealed = number.sealed_credentials
    if number.provider != PROVIDER or not sealed:
        return ""

    def open_secret() -> str:
        return str(secret_box_from_settings().open(sealed, account_id=number.account_id).get("app_secret", ""))

    cache = tokens if tokens is not None else PROCESS_TOKENS
    return cache.get(("whatsapp-app-secret", number.account_id, number.phone_number_id), sealed, open_secret)


def graph_for(number: PhoneNumber, graph_api_url: str, box: SecretBox | None = None) -> GraphCalls:
    """The Graph calling client of the number, with its opened access token."""
    if number.provider != PROVIDER or not number.sealed_credentials or not meta_id(number):
        raise NotAWhatsAppNumber(f"phone number {number.phone_number_id} is not a WhatsApp number")
    opened = (box or secret_box_from_settings()).open(number.sealed_credentials, account_id=number.account_id)
    return GraphCalls(graph_api_url, meta_id(number), str(opened.get("access_token", "")))
