"""/phone_number: list, import (Twilio, SIP, WhatsApp), attach, detach."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import phone_numbers, whatsapp_numbers
from chalicelib.schemas.common import Page
from chalicelib.schemas.phone_numbers import (
    Attach,
    Detach,
    PhoneNumberList,
    PhoneNumberResult,
    SipImport,
    TwilioImport,
    WhatsAppImport,
)

bp = Blueprint(__name__)
TAG = "Phone numbers"


@api_route(bp, "/phone_number/list", "GET",
           RouteSpec("List imported phone numbers", TAG, query=Page, responses={200: PhoneNumberList}))
def list_numbers(req: ApiRequest) -> PhoneNumberList:
    return phone_numbers.list_numbers(req.account_id, req.query)


@api_route(bp, "/phone_number/import/twilio", "POST", RouteSpec(
    "Import a number you own on Twilio (the auth token is sealed and never returned)", TAG,
    body=TwilioImport, responses={201: PhoneNumberResult}))
def import_twilio(req: ApiRequest) -> PhoneNumberResult:
    return PhoneNumberResult(phone_number=phone_numbers.import_twilio(req.account_id, req.body))


@api_route(bp, "/phone_number/import/sip", "POST", RouteSpec(
    "Import a number served by your SIP trunk (dialled and answered through Twilio's SIP interface)", TAG,
    body=SipImport, responses={201: PhoneNumberResult}))
def import_sip(req: ApiRequest) -> PhoneNumberResult:
    return PhoneNumberResult(phone_number=phone_numbers.import_sip(req.account_id, req.body))


@api_route(bp, "/phone_number/import/whatsapp", "POST", RouteSpec(
    "Import a WhatsApp Business number (Cloud API) to answer and place WhatsApp voice calls (the access token and "
    "app secret are sealed and never returned)", TAG, body=WhatsAppImport, responses={201: PhoneNumberResult}))
def import_whatsapp(req: ApiRequest) -> PhoneNumberResult:
    return PhoneNumberResult(phone_number=whatsapp_numbers.import_whatsapp(req.account_id, req.body))


@api_route(bp, "/phone_number/attach", "POST", RouteSpec(
    "Attach a number to the agent that answers it", TAG, body=Attach, responses={200: PhoneNumberResult}))
def attach(req: ApiRequest) -> PhoneNumberResult:
    return PhoneNumberResult(phone_number=phone_numbers.attach(req.account_id, req.body))


@api_route(bp, "/phone_number/detach", "POST", RouteSpec(
    "Detach a number from its agent", TAG, body=Detach, responses={200: PhoneNumberResult}))
def detach(req: ApiRequest) -> PhoneNumberResult:
    return PhoneNumberResult(phone_number=phone_numbers.detach(req.account_id, req.body))
