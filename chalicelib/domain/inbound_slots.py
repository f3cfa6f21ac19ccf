"""Recording an inbound call: one transaction that claims the carrier's call id, takes a slot on the number and
creates the call.

Invariants:

* One call per carrier call id (Twilio's ``CallSid``, WhatsApp's wacid): the ``UniqueClaim`` ``carrier_key`` is
  written with the call, so a retried webhook, however soon, finds the call the first one created
  (:class:`Recorded` with ``created`` False) and never makes a second.
* At most ``cap`` live inbound calls per number, exactly: ``PhoneNumber.inbound_live`` is raised under the
  condition ``inbound_live < cap`` in the same transaction, and lowered by the call's terminal transition
  (``call_state``), so two calls arriving in the same instant cannot both take the last slot.
* Either all three writes happen or none: a refused call (:class:`NumberBusy`) leaves nothing behind.
"""
from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError

from chalicelib.db.models import Call, PhoneNumber, UniqueClaim
from chalicelib.db.transactions import failed_tables, transaction


class NumberBusy(Exception):
    """The number already has its cap of live inbound calls."""


@dataclass(frozen=True)
class Recorded:
    call: Call
    created: bool  # False: a retried webhook; ``call`` is the one the first delivery created


def record_inbound(call: Call, carrier_key: str, cap: int) -> Recorded:
    """Create ``call`` (an inbound call on ``call.from_number_id``) under the invariants above."""
    claim = UniqueClaim(carrier_key, owner=f"{call.account_id}#{call.call_id}")
    number = PhoneNumber(call.account_id, call.from_number_id)
    tx = transaction()
    try:
        with tx:
            tx.save(claim, condition=UniqueClaim.claim.does_not_exist())
            tx.update(number, actions=[PhoneNumber.inbound_live.add(1)],
                      condition=PhoneNumber.phone_number_id.exists()
                      & (PhoneNumber.inbound_live.does_not_exist() | (PhoneNumber.inbound_live < cap)))
            tx.save(call, condition=Call.call_id.does_not_exist())
    except TransactWriteError as error:
        failed = failed_tables(tx, error)
        if UniqueClaim.Meta.table_name in failed:
            existing = claimed_call(carrier_key)
            if existing is not None:
                return Recorded(existing, created=False)
        if PhoneNumber.Meta.table_name in failed:
            raise NumberBusy(f"phone number {call.from_number_id} has {cap} live inbound calls") from None
        raise
    return Recorded(call, created=True)


def claimed_call(carrier_key: str) -> Call | None:
    """The call that claimed ``carrier_key`` (None: no call did, or it is gone)."""
    try:
        owner = UniqueClaim.get(carrier_key, consistent_read=True).owner
        account_id, call_id = (int(part) for part in owner.split("#", 1))
        return Call.get(account_id, call_id, consistent_read=True)
    except (UniqueClaim.DoesNotExist, Call.DoesNotExist, ValueError):
        return None
