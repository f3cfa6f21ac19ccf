"""What the simulated Meta knows besides calls: business numbers, users' call permissions, how users answer
when a business calls them, and the messages businesses sent. Edited through ``/sim/whatsapp/*``."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from devstack.carrier_sim.scripts import Step, parse_script

PermissionStatus = Literal["granted", "no_permission", "temporary"]
Answer = Literal["accept", "reject", "ignore"]
TEMPORARY_PERMISSION_S = 7 * 24 * 3600
DEFAULT_USER_SCRIPT = parse_script([{"wait_agent": True}, {"hang_up": True}])


@dataclass
class Number:
    """A business phone number on the Cloud API, with the Meta app's webhook settings."""

    phone_number_id: str
    display_phone_number: str
    access_token: str
    app_secret: str
    webhook_url: str
    waba_id: str

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.display_phone_number if ch.isdigit())

    def to_json(self) -> dict[str, Any]:
        """The number as the control API shows it (no secrets)."""
        return {"phone_number_id": self.phone_number_id, "display_phone_number": self.display_phone_number,
                "webhook_url": self.webhook_url, "waba_id": self.waba_id}


@dataclass
class Permission:
    status: PermissionStatus = "no_permission"
    expiration_time: int | None = None  # unix seconds, for temporary permissions
    can_start_call: bool | None = None  # None: follows the status

    def current_status(self, now: float) -> PermissionStatus:
        if self.status == "temporary" and self.expiration_time is not None and self.expiration_time <= now:
            return "no_permission"
        return self.status

    def graph_json(self, now: float) -> dict[str, Any]:
        """``GET /{phone_number_id}/call_permissions``'s answer."""
        status = self.current_status(now)
        permission: dict[str, Any] = {"status": status}
        if status == "temporary" and self.expiration_time is not None:
            permission["expiration_time"] = self.expiration_time
        may_call = status in ("granted", "temporary") if self.can_start_call is None else self.can_start_call
        return {"messaging_product": "whatsapp", "permission": permission, "actions": [
            {"action_name": "send_call_permission_request", "can_perform_action": status != "granted"},
            {"action_name": "start_call", "can_perform_action": may_call}]}

    def allows_call(self, now: float) -> bool:
        actions = self.graph_json(now)["actions"]
        return self.current_status(now) in ("granted", "temporary") and actions[1]["can_perform_action"]


@dataclass
class User:
    """A WhatsApp user: what they do when a business calls them."""

    wa_id: str
    answer: Answer = "accept"
    script: tuple[Step, ...] = DEFAULT_USER_SCRIPT
    name: str | None = None
    answer_after_s: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"wa_id": self.wa_id, "answer": self.answer, "script": [step.to_json() for step in self.script],
                "name": self.name, "answer_after_s": self.answer_after_s}


@dataclass
class Registry:
    numbers: dict[str, Number] = field(default_factory=dict)
    permissions: dict[tuple[str, str], Permission] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def permission(self, phone_number_id: str, user_wa_id: str) -> Permission:
        return self.permissions.get((phone_number_id, user_wa_id), Permission())

    def set_permission(self, phone_number_id: str, user_wa_id: str, status: PermissionStatus,
                       expiration_time: int | None, can_start_call: bool | None) -> Permission:
        if status == "temporary" and expiration_time is None:
            expiration_time = int(time.time()) + TEMPORARY_PERMISSION_S
        permission = Permission(status, expiration_time if status == "temporary" else None, can_start_call)
        self.permissions[(phone_number_id, user_wa_id)] = permission
        return permission

    def user(self, wa_id: str) -> User:
        return self.users.get(wa_id) or User(wa_id)

    def record_message(self, number: Number, body: dict[str, Any]) -> dict[str, Any]:
        message = {"id": "wamid." + secrets.token_urlsafe(24), "phone_number_id": number.phone_number_id,
                   "to": body["to"], "type": body.get("type", "text"), "body": body, "at": time.time()}
        self.messages.append(message)
        return message

    def clear(self) -> None:
        self.numbers.clear()
        self.permissions.clear()
        self.users.clear()
        self.messages.clear()
