"""The WhatsApp webhook of an imported number (Meta's Cloud API; no API key): the Callback URL's verification
(``GET``, answered ``text/plain``) and signed call events (``POST``, ``X-Hub-Signature-256``)."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain.whatsapp_webhook import receive, verify_subscription
from chalicelib.schemas.whatsapp import WebhookReceived, WebhookVerification, WhatsAppWebhook

bp = Blueprint(__name__)
TAG = "WhatsApp"
PATH = "/whatsapp/webhook/{account_id}/{phone_number_id}"
SIGNATURE = {"X-Hub-Signature-256": "sha256=<hex HMAC-SHA256 of the raw body with the Meta app's secret>."}


def _signature(req: ApiRequest) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == "x-hub-signature-256"), None)


@api_route(bp, PATH, "GET", RouteSpec(
    "Meta's verification of a WhatsApp number's Callback URL: echoes hub.challenge (text/plain) when "
    "hub.verify_token is the number's", TAG, query=WebhookVerification, responses={200: None}, public=True,
    text_response="text/plain"))
def verify(req: ApiRequest, account_id: int, phone_number_id: int) -> Response:
    query: WebhookVerification = req.query
    challenge = verify_subscription(account_id, phone_number_id, query.hub_mode, query.hub_verify_token,
                                    query.hub_challenge)
    return Response(body=challenge, status_code=200, headers={"Content-Type": "text/plain"})


@api_route(bp, PATH, "POST", RouteSpec(
    "WhatsApp Cloud API webhook of a number (the calls field): users' calls, answers, ends and call statuses",
    TAG, signed_body=WhatsAppWebhook, responses={200: WebhookReceived}, public=True, headers=SIGNATURE,
    errors={503: "An event could not be applied now; Meta delivers the webhook again"}))
def events(req: ApiRequest, account_id: int, phone_number_id: int) -> WebhookReceived:
    receive(account_id, phone_number_id, req.raw_body, _signature(req))
    return WebhookReceived()
