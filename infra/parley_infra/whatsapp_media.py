"""WhatsApp voice calls in AWS (docs/whatsapp-calls.md): the streaming service's ``/whatsapp`` endpoints on the
public ALB, where the API finds them, and what the task needs to hang a call up.

Signalling with WhatsApp goes through the Graph API from the Lambdas (the webhook, the dialer) and, to hang up,
from the task; the media is WebRTC like a web call (the same TURN relay, ``parley_infra.web_media``). The API
asks the task for an SDP answer (``POST /whatsapp/answer``) or offer (``POST /whatsapp/offer``): the ALB forwards
those two exact paths to the streaming target group (no wildcard: ``/stats`` and the rest stay answered 404),
and the Lambdas that place or answer calls get their base URL (``PARLEY_WHATSAPP_MEDIA_URL``, derived from the
web offer URL so an override of the front door applies to both).

Hanging up: when a call ends for a reason other than the user, the task queues a ``whatsapp_hang_up`` message
on the campaign-operations queue (``chalicelib.whatsapp.hang_up.request``; the task may send to that queue, see
``parley_infra.stack``), and the campaign-operations worker, which already opens numbers' sealed credentials,
asks Graph to terminate the call. The task itself still opens no sealed carrier credential.
"""
from __future__ import annotations

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from chalicelib.whatsapp.config import media_url_from
from parley_infra.streaming import StreamingService
from parley_infra.web_media import WebMedia

WHATSAPP_PATHS = ("/whatsapp/answer", "/whatsapp/offer")
"""The streaming service's WhatsApp signalling endpoints, forwarded from the ALB (exact paths)."""
WHATSAPP_RULE_PRIORITY = 30
"""After ``/twilio`` (10) and ``/web/offer`` (20)."""
MEDIA_URL_VARIABLE = "PARLEY_WHATSAPP_MEDIA_URL"


class WhatsAppMedia(Construct):
    """The ``/whatsapp/*`` route and the Lambdas' pointer to it."""

    def __init__(self, scope: Construct, construct_id: str, *, streaming: StreamingService,
                 web_media: WebMedia) -> None:
        super().__init__(scope, construct_id)
        streaming.listener.add_target_groups(
            "WhatsApp",
            priority=WHATSAPP_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(list(WHATSAPP_PATHS))],
            target_groups=[streaming.target_group],
        )
        media_url = media_url_from(None, web_media.offer_url)
        if media_url is None:
            raise ValueError(f"the web offer URL {web_media.offer_url!r} does not end with /web/offer")
        self.media_url = media_url
        self.api_environment = {MEDIA_URL_VARIABLE: media_url}
        """For the Lambdas that answer (API handler) and place (API handler, dialer) WhatsApp calls."""
