"""The telephony adapter interface that call dispatch hands calls to (``carriers`` picks the configured one)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.db.models import Call, PhoneNumber


@dataclass(frozen=True)
class Placement:
    """What the adapter did with a call: its status afterwards and a human-readable note."""

    status: str
    message: str
    carrier_sid: str | None = None


class TelephonyAdapter(Protocol):
    def place_call(self, call: Call, from_number: PhoneNumber, machine_detection: bool = False) -> Placement:
        """Place ``call``; ``machine_detection``: ask the carrier to tell a voicemail machine from a person."""
        ...


class NotConnected:
    """No carrier is connected in this build: the call is recorded and honestly stays ``queued``."""

    def place_call(self, call: Call, from_number: PhoneNumber, machine_detection: bool = False) -> Placement:
        return Placement(status="queued",
                         message="call queued; no carrier adapter is connected in this deployment yet")
