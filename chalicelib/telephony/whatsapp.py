"""WhatsApp adapter: places a business-initiated call through the Graph API (docs/whatsapp-calls.md §4).

1. Graph ``call_permissions``: the call is placed only when the user granted it (``granted``/``temporary`` and
   ``start_call`` allowed); otherwise :class:`NoPermission` (the dialer ends the call ``failed`` with it).
2. The streaming service's offer (``/whatsapp/offer``): the task keeps the peer connection and waits.
3. Graph ``connect`` with the offer; then, in one transaction, the claim ``whatsapp-call#{wacid}`` and the call's
   ``carrier_sid`` and ``details.whatsapp``.
4. The expiry message on the campaign-ops queue (ring timeout + 15 s): ``whatsapp_outbound.expire_unanswered``.

A failure after the offer tells the task to drop it (``caller_hung_up``, best effort); after ``connect``,
WhatsApp is asked to terminate the call (best effort). Messages are safe to store (no token).
"""
from __future__ import annotations

from chalicelib import queues
from chalicelib.db.models import Call, PhoneNumber, UniqueClaim
from chalicelib.db.transactions import transaction
from chalicelib.domain.whatsapp_calls import BUSINESS_INITIATED, CHANNEL, call_claim, drop_media
from chalicelib.domain.whatsapp_outbound import expiry_delay, expiry_message
from chalicelib.observability import logger
from chalicelib.secrets_box import SecretBox
from chalicelib.telephony.adapter import Placement
from chalicelib.whatsapp import hang_up
from chalicelib.whatsapp.config import WhatsAppConfig
from chalicelib.whatsapp.credentials import graph_for
from chalicelib.whatsapp.media import MediaClient

NO_PERMISSION = ("the user has not granted call permission to this WhatsApp number (ask them to allow calls, "
                 "e.g. with a call permission request message)")


class NoPermission(Exception):
    """The user has not allowed the business to call them."""


class NotConfigured(Exception):
    """WhatsApp calls need the streaming service's ``/whatsapp`` URL and the stream token secret."""


class WhatsAppAdapter:
    def __init__(self, config: WhatsAppConfig, box: SecretBox | None = None) -> None:
        self._config = config
        self._box = box

    def place_call(self, call: Call, from_number: PhoneNumber, machine_detection: bool = False) -> Placement:
        """``machine_detection`` does not apply: WhatsApp has no voicemail to reach."""
        config = self._config
        if call.channel != CHANNEL:
            call.update(actions=[Call.channel.set(CHANNEL)])
        if not config.media_url or not config.stream_token_secret:
            raise NotConfigured("WhatsApp calls are not configured on this deployment (PARLEY_WHATSAPP_MEDIA_URL)")
        graph = graph_for(from_number, config.graph_api_url, self._box)
        if not graph.call_permissions(call.to_number).granted:
            raise NoPermission(NO_PERMISSION)
        media = MediaClient(config.media_url, config.stream_token_secret)
        offer = media.offer(call.account_id, call.call_id, config.ring_timeout_s)
        try:
            wacid = graph.connect(call.to_number, offer, callback_data=str(call.call_id))
        except Exception:
            drop_media(call)
            raise
        try:
            self._record(call, wacid)
            queues.send(queues.CAMPAIGN_OPS, expiry_message(call), delay_seconds=expiry_delay(config))
        except Exception:
            logger.exception("whatsapp call placed but not recorded; hanging up", extra={"call_id": call.call_id})
            drop_media(call)
            hang_up.terminate(call.account_id, call.call_id)
            raise
        logger.info("whatsapp call placed", extra={"call_id": call.call_id})
        return Placement(status="queued", message="call placed on WhatsApp", carrier_sid=wacid)

    @staticmethod
    def _record(call: Call, wacid: str) -> None:
        details = {**(call.details or {}), "whatsapp": {"wacid": wacid, "direction": BUSINESS_INITIATED}}
        with transaction() as tx:
            tx.save(UniqueClaim(call_claim(wacid), owner=f"{call.account_id}#{call.call_id}"),
                    condition=UniqueClaim.claim.does_not_exist())
            tx.update(call, actions=[Call.carrier_sid.set(wacid), Call.details.set(details)])
        call.carrier_sid, call.details = wacid, details
