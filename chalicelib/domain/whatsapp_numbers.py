"""WhatsApp Business numbers (Cloud API): import (docs/whatsapp-calls.md §1).

Invariants:

* A Meta phone number id is registered at most once across every account (``UniqueClaim``
  ``whatsapp-number#{id}``, owner ``"{account_id}#{phone_number_id}"``), and a number at most once per account
  (``phone#{account_id}#{number}``, as for every provider); both claims and the number are one transaction.
* The access token and the app secret are sealed (``secrets_box``, bound to the account) before anything is
  written, and never returned; ``settings`` hold only ``whatsapp_phone_number_id`` and ``verify_token``.
"""
from __future__ import annotations

import secrets

from pynamodb.exceptions import TransactWriteError

from chalicelib.db.models import PhoneNumber, UniqueClaim
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import cancellation_codes, transaction
from chalicelib.domain.errors import Conflict
from chalicelib.domain.inbound_setup import whatsapp_steps
from chalicelib.domain.phone_numbers import to_out
from chalicelib.schemas.phone_numbers import PhoneNumberOut, WhatsAppImport
from chalicelib.secrets_box import secret_box_from_settings

PROVIDER = "whatsapp"
VERIFY_TOKEN_BYTES = 24  # 32 url-safe characters
FAILED = "ConditionalCheckFailed"


def number_claim(whatsapp_phone_number_id: str) -> str:
    return f"whatsapp-number#{whatsapp_phone_number_id}"


def import_whatsapp(account_id: int, body: WhatsAppImport) -> PhoneNumberOut:
    """Register the number (see the module docstring); 409 when it or its Meta id is already registered."""
    settings = {"whatsapp_phone_number_id": body.whatsapp_phone_number_id,
                "verify_token": body.verify_token or secrets.token_urlsafe(VERIFY_TOKEN_BYTES)}
    sealed = secret_box_from_settings().seal({"access_token": body.access_token, "app_secret": body.app_secret},
                                             account_id=account_id)
    item = PhoneNumber(account_id, next_id("phone_number"), number=body.phone_number, provider=PROVIDER,
                       name=body.name, settings=settings, sealed_credentials=sealed)
    tx = transaction()
    try:
        with tx:  # three Puts: DynamoDB reports their cancellation reasons in this order
            tx.save(UniqueClaim(f"phone#{account_id}#{body.phone_number}", owner=str(item.phone_number_id)),
                    condition=UniqueClaim.claim.does_not_exist())
            tx.save(UniqueClaim(number_claim(body.whatsapp_phone_number_id),
                                owner=f"{account_id}#{item.phone_number_id}"),
                    condition=UniqueClaim.claim.does_not_exist())
            tx.save(item, condition=PhoneNumber.phone_number_id.does_not_exist())
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        if codes[:1] == [FAILED]:
            raise Conflict(f"{body.phone_number} is already imported in this account", field="phone_number") from None
        if codes[1:2] == [FAILED]:
            raise Conflict(f"Meta phone number id {body.whatsapp_phone_number_id} is already registered",
                           field="whatsapp_phone_number_id") from None
        raise
    out = to_out(item)
    out.inbound = whatsapp_steps(item)
    return out
