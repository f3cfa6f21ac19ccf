"""Imported phone numbers (Twilio, SIP, WhatsApp: ``whatsapp_numbers``) and which agent answers them."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.db.models import Agent, PhoneNumber, UniqueClaim
from chalicelib.db.paging import bounded_total, page_of
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import failed_tables, transaction
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.inbound_setup import configure_inbound
from chalicelib.schemas.common import Page
from chalicelib.schemas.phone_numbers import (
    Attach,
    Detach,
    PhoneNumberList,
    PhoneNumberOut,
    ResellerScoped,
    SipImport,
    TwilioImport,
)
from chalicelib.secrets_box import secret_box_from_settings
from chalicelib.telephony import sip
from chalicelib.whatsapp.config import webhook_url


def is_dialable(item: PhoneNumber) -> bool:
    """Twilio and WhatsApp numbers; SIP numbers once they name the Twilio account whose SIP interface dials them."""
    return item.provider in ("twilio", "whatsapp") or (item.provider == "sip" and bool((item.settings or {}).get(
        "twilio_account_sid")))


def not_dialable_reason(item: PhoneNumber) -> str:
    if item.provider == "sip":
        return (f"phone number {item.phone_number_id} is a SIP number imported without a Twilio account: import it "
                "again with twilio_account_sid and twilio_account_token to dial it through Twilio's SIP interface")
    return f"phone number {item.phone_number_id} is a {item.provider} number, which cannot be dialled"


def to_out(item: PhoneNumber) -> PhoneNumberOut:
    settings = dict(item.settings or {})
    if item.provider == "whatsapp":  # derived, not stored: it follows PARLEY_PUBLIC_API_URL
        settings["webhook_url"] = webhook_url(item.account_id, item.phone_number_id)
    return PhoneNumberOut(id=item.phone_number_id, phone_number=item.number, provider=item.provider,
                          name=item.name, agent_id=item.agent_id, settings=settings,
                          dialable=is_dialable(item), created_at=item.created_at)


def get_number(account_id: int, phone_number_id: int) -> PhoneNumber:
    try:
        return PhoneNumber.get(account_id, phone_number_id)
    except PhoneNumber.DoesNotExist:
        raise NotFound(f"phone number {phone_number_id} not found", field="phone_number_id") from None


def list_numbers(account_id: int, page: Page) -> PhoneNumberList:
    total = bounded_total(PhoneNumber.query(account_id, attributes_to_get=["account_id", "phone_number_id"])).count
    items = page_of(PhoneNumber.query(account_id), page)
    return PhoneNumberList(phone_numbers=[to_out(i) for i in items], total_records=total,
                           pageno=page.pageno, pagesize=page.pagesize)


def import_twilio(account_id: int, body: TwilioImport) -> PhoneNumberOut:
    """Import the number, then point its inbound webhooks at Parley (the import stands either way)."""
    out, item = _import(account_id, body.phone_number, "twilio", body.name,
                        settings={"account_sid": body.account_sid},
                        secrets={"account_sid": body.account_sid, "auth_token": body.account_token})
    out.inbound = configure_inbound(item)
    return out


def _check_sip(body: SipImport) -> None:
    if (body.sip_username is None) != (body.sip_password is None):
        raise ValidationFailed("sip_username and sip_password go together: give both (digest auth) or neither",
                               field="sip_password" if body.sip_password is None else "sip_username")
    if (body.twilio_account_sid is None) != (body.twilio_account_token is None):
        raise ValidationFailed("twilio_account_sid and twilio_account_token go together",
                               field="twilio_account_token" if body.twilio_account_token is None
                               else "twilio_account_sid")
    refusal = sip.host_refusal(body.sip_host, body.sip_port, unresolved_ok=True)
    if refusal is not None:
        raise ValidationFailed(f"{refusal}; a SIP host must be a public address", field="sip_host")


def import_sip(account_id: int, body: SipImport) -> PhoneNumberOut:
    """Import a SIP trunk number; with a Twilio account it is dialable, and inbound needs a SIP Domain (manual)."""
    _check_sip(body)
    settings = body.model_dump(include={"sip_host", "sip_trunk_name", "sip_port", "sip_transport", "sip_username",
                                        "sip_dial_prefix", "sip_strip_plus", "twilio_account_sid"},
                               exclude_none=True)
    secrets = {"sip_password": body.sip_password} if body.sip_password else {}
    if body.twilio_account_sid and body.twilio_account_token:
        secrets.update({"account_sid": body.twilio_account_sid, "auth_token": body.twilio_account_token})
    out, item = _import(account_id, body.phone_number, "sip", body.name, settings=settings, secrets=secrets)
    out.inbound = configure_inbound(item)
    return out


def _import(account_id: int, number: str, provider: str, name: str | None,
            settings: dict, secrets: dict) -> tuple[PhoneNumberOut, PhoneNumber]:
    item = PhoneNumber(account_id, next_id("phone_number"), number=number, provider=provider, name=name,
                       settings=settings,
                       sealed_credentials=secret_box_from_settings().seal(secrets, account_id=account_id)
                       if secrets else None)
    claim = UniqueClaim(f"phone#{account_id}#{number}", owner=str(item.phone_number_id))
    tx = transaction()
    try:
        with tx:
            tx.save(claim, condition=UniqueClaim.claim.does_not_exist())
            tx.save(item, condition=PhoneNumber.phone_number_id.does_not_exist())
    except TransactWriteError as error:
        if UniqueClaim.Meta.table_name in failed_tables(tx, error):
            raise Conflict(f"{number} is already imported in this account", field="phone_number") from None
        raise
    return to_out(item), item


def _no_reseller(body: ResellerScoped) -> None:
    if body.user_id is not None:
        raise ValidationFailed("user_id is for reseller accounts, which this deployment does not have",
                               field="user_id")


def attach(account_id: int, body: Attach) -> PhoneNumberOut:
    _no_reseller(body)
    item = get_number(account_id, body.phone_number_id)
    tx = transaction()
    try:
        with tx:
            tx.condition_check(Agent, account_id, body.agent_id, condition=Agent.agent_id.exists())
            tx.update(item, actions=[PhoneNumber.agent_id.set(body.agent_id)],
                      condition=PhoneNumber.phone_number_id.exists())
    except TransactWriteError as error:
        failed = failed_tables(tx, error)
        if Agent.Meta.table_name in failed:
            raise NotFound(f"agent {body.agent_id} not found", field="agent_id") from None
        if PhoneNumber.Meta.table_name in failed:
            raise NotFound(f"phone number {body.phone_number_id} not found", field="phone_number_id") from None
        raise
    item.agent_id = body.agent_id
    out = to_out(item)
    out.inbound = configure_inbound(item)
    return out


def detach(account_id: int, body: Detach) -> PhoneNumberOut:
    _no_reseller(body)
    item = get_number(account_id, body.phone_number_id)
    try:
        item.update(actions=[PhoneNumber.agent_id.remove()], condition=PhoneNumber.phone_number_id.exists())
    except UpdateError:
        raise NotFound(f"phone number {body.phone_number_id} not found", field="phone_number_id") from None
    return to_out(item)
