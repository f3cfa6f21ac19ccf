"""WhatsApp voice calls in AWS (docs/whatsapp-calls.md): the streaming service's ``/whatsapp`` endpoints on the
public ALB, where the API finds them, and what the task needs to hang a call up.

Signalling with WhatsApp goes through the Graph API from the Lambdas (the webhook, the dialer) and, to hang up,
from the task; the media is WebRTC like a web call (the same TURN relay, ``parley_infra.web_media``). The API
asks the task for an SDP answer (``POST /whatsapp/answer``) or offer (``POST /whatsapp/offer``): the ALB forwards
those two exact paths to the streaming target group (no wildcard: ``/stats`` and the rest stay answered 404),
and the Lambdas that place or answer calls get their base URL (``PARLEY_WHATSAPP_MEDIA_URL``, derived from the
web offer URL so an override of the front door applies to both).

Hanging up (``chalicelib.whatsapp.hang_up.terminate``): when a call ends for a reason other than the user, the
task asks Graph to terminate it with the number's access token. The task therefore reads a number's
``provider``, ``settings`` and ``sealed_credentials`` (IAM attribute condition: nothing else) and may decrypt with
the secrets key under the account-bound encryption context (``PARLEY_KMS_KEY_ID``). This widens the task's
reach: it can open any number's sealed credentials, not only WhatsApp numbers' (the key's context names the
account, not the provider).
"""
from __future__ import annotations

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from chalicelib.whatsapp.config import media_url_from
from parley_infra.permissions import allow_secret_sealing
from parley_infra.streaming import StreamingService
from parley_infra.web_media import WebMedia

WHATSAPP_PATHS = ("/whatsapp/answer", "/whatsapp/offer")
"""The streaming service's WhatsApp signalling endpoints, forwarded from the ALB (exact paths)."""
WHATSAPP_RULE_PRIORITY = 30
"""After ``/twilio`` (10) and ``/web/offer`` (20)."""
MEDIA_URL_VARIABLE = "PARLEY_WHATSAPP_MEDIA_URL"
NUMBER_ATTRIBUTES_FOR_HANG_UP = ("provider", "settings", "sealed_credentials")
"""What ``hang_up.terminate`` reads of a phone number (with its keys)."""


class WhatsAppMedia(Construct):
    """The ``/whatsapp/*`` route, the Lambdas' pointer to it, and the task's hang-up grants."""

    def __init__(self, scope: Construct, construct_id: str, *, streaming: StreamingService, web_media: WebMedia,
                 secrets_key: kms.IKey, phone_number_table_arns: list[str]) -> None:
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

        streaming.container.add_environment("PARLEY_KMS_KEY_ID", secrets_key.key_arn)
        allow_secret_sealing(streaming.task_role, secrets_key, seal=False)
        from chalicelib.db.models import PhoneNumber

        keys = [a.attr_name for a in PhoneNumber.get_attributes().values() if a.is_hash_key or a.is_range_key]
        streaming.task_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem"],
            resources=phone_number_table_arns,
            conditions={
                "ForAllValues:StringEquals": {"dynamodb:Attributes": [*keys, *NUMBER_ATTRIBUTES_FOR_HANG_UP]},
                "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
            },
        ))
