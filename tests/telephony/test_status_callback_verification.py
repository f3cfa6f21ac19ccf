"""Twilio status callbacks: unknown and forged answer alike, and forged floods cost no secret openings."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from chalicelib.telephony.twilio_signature import compute_signature
from tests.conftest import AGENT, Tenant

SID, TOKEN = "AC" + "12" * 16, "tok_" + "q" * 28
TWILIO_NUMBER = "+15005550006"


def _dispatch(tenant: Tenant, calls: int = 1) -> int:
    """Dispatch ``calls`` calls from one Twilio number; returns the last call's id."""
    agent = tenant.post("agents/create", json=AGENT).json()["id"]
    number = tenant.post("phone_number/import/twilio", json={
        "phone_number": TWILIO_NUMBER, "account_sid": SID, "account_token": TOKEN}).json()["phone_number"]["id"]
    call_ids = [int(tenant.post("calls/dispatch", json={"agent_id": agent, "to_number": "+14155550123",
                                                        "from_number_id": number}).json()["call_id"])
                for _ in range(calls)]
    return call_ids[-1]


def _status_url(api: str, account_id: int, call_id: int) -> str:
    return f"{api}/api/v1/telephony/twilio/status/{account_id}/{call_id}"


def _post_forged(url: str) -> requests.Response:
    form = {"CallSid": "CA" + "1" * 32, "CallStatus": "busy", "AccountSid": SID}
    return requests.post(url, data=form, headers={"X-Twilio-Signature": compute_signature("guess", url, form)})


def test_unknown_calls_and_forged_callbacks_answer_alike(tenant: Tenant, api: str) -> None:
    call_id = _dispatch(tenant)
    forged = _post_forged(_status_url(api, tenant.account_id, call_id))
    unknown_call = _post_forged(_status_url(api, tenant.account_id, call_id + 1000))
    unknown_account = _post_forged(_status_url(api, tenant.account_id + 1000, call_id))
    unsigned = requests.post(_status_url(api, tenant.account_id, call_id + 1000), data={"CallSid": "CA1",
                                                                                         "CallStatus": "busy"})
    assert forged.status_code == 403
    for other in (unknown_call, unknown_account, unsigned):
        assert (other.status_code, other.json()) == (forged.status_code, forged.json())


class CountingBox:
    """Stands in for the secrets box and counts openings (a KMS Decrypt each in AWS)."""

    def __init__(self, box: Any) -> None:
        self.box = box
        self.opened = 0

    def open(self, blob: bytes, *, account_id: int) -> dict[str, Any]:
        self.opened += 1
        return self.box.open(blob, account_id=account_id)


@pytest.fixture()
def counting_box(api: str, monkeypatch: pytest.MonkeyPatch) -> CountingBox:
    """Counts openings; the carrier's own callbacks are sent nowhere (a closed port), so only the test's count."""
    from chalicelib import secrets_box
    from chalicelib.domain import carrier_tokens

    monkeypatch.setenv("PARLEY_PUBLIC_API_URL", "http://127.0.0.1:9")
    counting = CountingBox(secrets_box.secret_box_from_settings())
    monkeypatch.setattr(carrier_tokens, "secret_box_from_settings", lambda: counting)
    return counting


def _forged_params(call_sid: str) -> dict[str, str]:
    return {"CallSid": call_sid, "CallStatus": "busy", "AccountSid": SID}


def test_a_flood_of_forged_callbacks_for_one_number_opens_its_token_once(
        tenant: Tenant, api: str, counting_box: CountingBox) -> None:
    from chalicelib.domain.carrier_events import BadSignature, apply_twilio_status
    from chalicelib.domain.carrier_tokens import OpenedTokens

    tokens = OpenedTokens()
    _dispatch(tenant, calls=3)  # three calls from the same number
    call_ids = [call["id"] for call in tenant.get("calls/logs").json()["call_log_data"]]
    assert len(call_ids) == 3
    for attempt in range(30):
        call_id = call_ids[attempt % len(call_ids)]
        with pytest.raises(BadSignature):
            apply_twilio_status(tenant.account_id, call_id, _forged_params("CA" + "1" * 32), f"forged{attempt}",
                                tokens=tokens)
    assert counting_box.opened == 1


def test_forged_callbacks_make_no_consistent_reads(tenant: Tenant, api: str, counting_box: CountingBox,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.db.models import Call, PhoneNumber
    from chalicelib.domain.carrier_events import BadSignature, apply_twilio_status
    from chalicelib.domain.carrier_tokens import OpenedTokens

    call_id = _dispatch(tenant)
    consistent: list[str] = []
    for model in (Call, PhoneNumber):
        original = model.get.__func__  # type: ignore[attr-defined]

        def get(cls: type, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if kwargs.get("consistent_read"):
                consistent.append(cls.__name__)
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(model, "get", classmethod(get))
    with pytest.raises(BadSignature):
        apply_twilio_status(tenant.account_id, call_id, _forged_params("CA" + "1" * 32), "forged",
                            tokens=OpenedTokens())
    assert consistent == []


def test_a_valid_callback_is_applied_with_the_cached_token_and_a_changed_token_is_reopened(
        tenant: Tenant, api: str, counting_box: CountingBox) -> None:
    from chalicelib.db.models import Call
    from chalicelib.domain.carrier_events import apply_twilio_status
    from chalicelib.domain.carrier_tokens import OpenedTokens
    from chalicelib.telephony.twilio import TwilioConfig, status_callback_url

    tokens = OpenedTokens()
    call_id = _dispatch(tenant)
    call = Call.get(tenant.account_id, call_id)
    url = status_callback_url(TwilioConfig.from_env(), tenant.account_id, call_id)
    ringing = {"CallSid": call.carrier_sid, "CallStatus": "ringing", "AccountSid": SID}
    assert apply_twilio_status(tenant.account_id, call_id, ringing, compute_signature(TOKEN, url, ringing),
                               tokens=tokens) in ("ringing", "in_progress", "completed")
    assert counting_box.opened == 1
    # The number's token changes (imported again with a new token): the new sealed blob is opened.
    from chalicelib.db.models import PhoneNumber
    from chalicelib.secrets_box import secret_box_from_settings

    number = PhoneNumber.get(tenant.account_id, call.from_number_id)
    new_token = "tok_" + "z" * 28
    number.update(actions=[PhoneNumber.sealed_credentials.set(secret_box_from_settings().seal(
        {"account_sid": SID, "auth_token": new_token}, account_id=tenant.account_id))])
    busy = {"CallSid": call.carrier_sid, "CallStatus": "busy", "AccountSid": SID}
    apply_twilio_status(tenant.account_id, call_id, busy, compute_signature(new_token, url, busy), tokens=tokens)
    assert counting_box.opened == 2


def test_opened_tokens_expire_and_stay_bounded() -> None:
    from chalicelib.domain.carrier_tokens import OpenedTokens

    now = [1000.0]
    opened: list[int] = []

    def opener(n: int) -> str:
        opened.append(n)
        return f"token{n}"

    tokens = OpenedTokens(ttl_seconds=60, max_entries=2, clock=lambda: now[0])
    assert tokens.get(("a", 1), b"blob", lambda: opener(1)) == "token1"
    assert tokens.get(("a", 1), b"blob", lambda: opener(1)) == "token1"
    now[0] += 61
    assert tokens.get(("a", 1), b"blob", lambda: opener(1)) == "token1"
    assert opened == [1, 1]
    tokens.get(("a", 2), b"blob", lambda: opener(2))
    tokens.get(("a", 3), b"blob", lambda: opener(3))
    assert len(tokens) == 2
