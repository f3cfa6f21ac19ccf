"""The WhatsApp webhook of a number (docs/whatsapp-calls.md §2): Meta's verification request, and signed events.

Invariants:

* Nothing is read beyond the number, and nothing is written, before ``X-Hub-Signature-256`` (HMAC-SHA256 of the
  raw body with the number's app secret) is checked. An unknown (account, number), a number that is not a
  WhatsApp number, an unsigned or a forged request all answer the same 403 (``invalid_signature``).
* A verified body that is not the Cloud API's shape (including any ``calls`` change) answers 400 and nothing of
  it is applied: the whole body is validated before the first event is handled.
* A change about another Meta number is applied only when that number is registered in the same account and its
  own app secret verifies the same signature (one Meta app, one callback URL); otherwise it is skipped.
* Every event is handled on its own: one that fails unexpectedly is logged and the others still run; the answer
  is then 503, so Meta delivers the body again (every handler is idempotent: see ``whatsapp_calls``). So does a
  recent event about a call whose claim is not written yet (``whatsapp_calls.NotKnownYet``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from functools import partial

from pydantic import ValidationError

from chalicelib.db.models import PhoneNumber, UniqueClaim
from chalicelib.domain import whatsapp_calls, whatsapp_outbound
from chalicelib.domain.carrier_tokens import OpenedTokens
from chalicelib.domain.errors import DomainError, Forbidden, Unavailable
from chalicelib.domain.whatsapp_numbers import number_claim
from chalicelib.observability import logger
from chalicelib.schemas.whatsapp import CallEvent, CallsValue, WhatsAppWebhook
from chalicelib.whatsapp.config import WhatsAppConfig
from chalicelib.whatsapp.credentials import app_secret, meta_id

REFUSED = "X-Hub-Signature-256 does not match this webhook"
NOT_VERIFIED = "hub.verify_token does not match this number's verify token"
SIGNATURE_PREFIX = "sha256="


class BadSignature(Forbidden):
    code = "invalid_signature"


class VerificationFailed(Forbidden):
    code = "verification_failed"


class MalformedWebhook(DomainError):
    """A verified body that is not the Cloud API's webhook (400)."""

    code = "invalid_webhook"


def _whatsapp_number(account_id: int, phone_number_id: int) -> PhoneNumber | None:
    try:
        number = PhoneNumber.get(account_id, phone_number_id)
    except PhoneNumber.DoesNotExist:
        return None
    return number if meta_id(number) else None


def verify_subscription(account_id: int, phone_number_id: int, mode: str | None, token: str | None,
                        challenge: str | None) -> str:
    """Meta's Callback URL check: the challenge to echo, when the verify token is the number's."""
    number = _whatsapp_number(account_id, phone_number_id)
    expected = str((number.settings or {}).get("verify_token", "")) if number is not None else ""
    if mode != "subscribe" or not expected or challenge is None or \
            not hmac.compare_digest(expected.encode(), (token or "").encode()):
        raise VerificationFailed(NOT_VERIFIED)
    logger.info("whatsapp webhook verified", extra={"phone_number_id": phone_number_id})
    return challenge


def _signed_by(number: PhoneNumber, raw: bytes, signature: str, tokens: OpenedTokens | None) -> bool:
    secret = app_secret(number, tokens)
    if not secret or not signature.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.removeprefix(SIGNATURE_PREFIX).strip().lower())


def _parse(raw: bytes) -> list[CallsValue]:
    try:
        body = WhatsAppWebhook.model_validate(json.loads(raw))
        return [CallsValue.model_validate(change.value) for entry in body.entry for change in entry.changes
                if change.field == "calls"]
    except (ValueError, UnicodeDecodeError) as error:  # ValidationError is a ValueError
        where = _where(error) if isinstance(error, ValidationError) else "body is not JSON"
        raise MalformedWebhook(f"not a WhatsApp Cloud API webhook ({where})") from None


def _where(error: ValidationError) -> str:
    first = error.errors()[0]
    return ".".join(str(part) for part in first["loc"]) + ": " + first["msg"]


def _target(number: PhoneNumber, value: CallsValue, raw: bytes, signature: str,
            tokens: OpenedTokens | None) -> PhoneNumber | None:
    """The number a change is about: the webhook's own, or a sibling in the account signed the same."""
    wanted = value.metadata.phone_number_id
    if wanted == meta_id(number):
        return number
    try:
        owner = UniqueClaim.get(number_claim(wanted)).owner
        account, _, sibling_id = owner.partition("#")
        sibling = _whatsapp_number(int(account), int(sibling_id)) if int(account) == number.account_id else None
    except (UniqueClaim.DoesNotExist, ValueError):
        sibling = None
    if sibling is None or meta_id(sibling) != wanted or not _signed_by(sibling, raw, signature, tokens):
        logger.info("whatsapp change for another number skipped", extra={"phone_number_id": number.phone_number_id})
        return None
    return sibling


def receive(account_id: int, phone_number_id: int, raw: bytes, signature: str | None,
            config: WhatsAppConfig | None = None, *, tokens: OpenedTokens | None = None) -> int:
    """Verify a webhook and apply its ``calls`` changes; returns how many changes were applied."""
    number = _whatsapp_number(account_id, phone_number_id) if signature else None
    if number is None or not signature or not _signed_by(number, raw, signature, tokens):
        raise BadSignature(REFUSED)
    values = _parse(raw)
    config = config or WhatsAppConfig.from_env()
    applied, failed = 0, 0
    for value in values:
        target = _target(number, value, raw, signature, tokens)
        if target is None:
            continue
        failed += _apply(target, value, config)
        applied += 1
    if failed:
        raise Unavailable(f"{failed} event(s) could not be applied now; deliver the webhook again")
    return applied


def _apply(number: PhoneNumber, value: CallsValue, config: WhatsAppConfig) -> int:
    """Handle each event of one change on its own; returns how many failed."""
    failed = 0
    for event in value.calls:
        failed += not _handled(partial(_call_event, number, value, event, config), event=event.event)
    for status in value.statuses:
        if status.type in (None, "call"):
            failed += not _handled(partial(whatsapp_outbound.status_changed, number, status), status=status.status)
    return failed


def _call_event(number: PhoneNumber, value: CallsValue, event: CallEvent, config: WhatsAppConfig) -> None:
    if event.event == "connect" and event.session is not None and event.session.sdp_type == "offer":
        whatsapp_calls.answer_user_call(number, event, value.caller_name(event.from_), config)
    elif event.event == "connect" and event.session is not None:
        whatsapp_outbound.user_answered(number, event, config)
    elif event.event == "terminate":
        whatsapp_calls.terminated(number, event)
    else:
        logger.info("whatsapp call event ignored", extra={"event": event.event})


def _handled(handle: Callable[[], None], **about: str) -> bool:
    """Run one event's handler; False when it must be delivered again (logged: early, or failed)."""
    try:
        handle()
    except whatsapp_calls.NotKnownYet as early:
        logger.info("whatsapp event early", extra={**about, "why": str(early)})
        return False
    except Exception:
        logger.exception("whatsapp event failed", extra=about)
        return False
    return True
