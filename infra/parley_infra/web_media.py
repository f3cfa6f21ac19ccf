"""Web calls in AWS: the signaling path through the public ALB and the media path through TURN.

A web call (``docs/web-calls.md``) is WebRTC between the caller's browser and one streaming task (aiortc:
Opus over UDP, DTLS-SRTP). Signaling is HTTPS: the page POSTs its SDP offer to ``/web/offer`` on the
streaming service, which the internet-facing ALB forwards to the streaming target group beside
``/twilio`` (exact path, like ``/twilio``: ``/stats`` and the rest stay answered 404 by the listener).
The API handler tells the page that URL (``PARLEY_WEB_OFFER_URL``).

Media cannot take the same way: an ALB carries HTTP only, and the tasks stay in private subnets without
public addresses. Both peers therefore gather TURN relay candidates and the media flows
browser <-> TURN relay <-> NAT gateway <-> task. The relay (``webMedia`` context):

- ``kvs-turn`` (default): Kinesis Video Streams' managed TURN. The stack creates one signaling channel,
  used for nothing but its TURN service; the API handler (for the browser, in ``POST /web-calls``) and the
  task (for its own peer) each call ``GetSignalingChannelEndpoint`` (``Protocols=["HTTPS"]``) and then
  ``GetIceServerConfig`` on the returned endpoint for short-lived TURN credentials. Both get the channel's
  ARN (``PARLEY_KVS_TURN_CHANNEL_ARN``) and exactly those two actions on that channel.
- ``ice-servers``: fixed ICE servers (``PARLEY_ICE_SERVERS``, a JSON list of ``{urls, username,
  credential}``), e.g. a coturn the customer runs. No AWS resource and no IAM grant; the same list goes to
  the API handler (which hands it to browsers) and the task.

The tasks' security group already allows all outbound traffic (CDK's default for a Fargate service), so
the task reaches the relays (UDP/TCP 443 for KVS, commonly 3478/5349 for coturn) through the NAT gateway;
nothing opens inbound. The rejected alternative (tasks in public subnets with public IPs and a UDP port
range open, STUN only) is described in the README: aiortc binds ephemeral ports, and it would put every
task on the internet.
"""
from __future__ import annotations

from aws_cdk import Annotations
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisvideo as kinesisvideo
from constructs import Construct

from parley_infra.settings import StageSettings
from parley_infra.streaming import StreamingService
from parley_infra.web_media_settings import ICE_SERVERS_VARIABLE, KVS_TURN

WEB_OFFER_PATH = "/web/offer"
"""Where pages POST their SDP offer (and its CORS preflight): the streaming service's signaling endpoint."""
WEB_OFFER_RULE_PRIORITY = 20
"""The ALB listener rule forwarding ``WEB_OFFER_PATH`` (``/twilio`` is priority 10)."""

WEB_OFFER_URL_VARIABLE = "PARLEY_WEB_OFFER_URL"
KVS_TURN_CHANNEL_VARIABLE = "PARLEY_KVS_TURN_CHANNEL_ARN"

KVS_TURN_ACTIONS = ("kinesisvideo:GetSignalingChannelEndpoint", "kinesisvideo:GetIceServerConfig")
"""What fetching TURN credentials takes; both are authorized on the channel's ARN."""

SIGNALING_MESSAGE_TTL_S = 60
"""The channel's TTL for undelivered signaling messages (KVS's default); no message is ever sent on it."""


class WebMedia(Construct):
    """The ``/web/offer`` route, the TURN relay configuration and who may fetch TURN credentials."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings,
                 streaming: StreamingService) -> None:
        super().__init__(scope, construct_id)
        config = settings.web_media
        self.mode = config.mode

        streaming.listener.add_target_groups(
            "WebOffer",
            priority=WEB_OFFER_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns([WEB_OFFER_PATH])],
            target_groups=[streaming.target_group],
        )
        scheme = "https" if settings.streaming.secure else "http"
        self.offer_url = config.offer_url or f"{scheme}://{streaming.host}{WEB_OFFER_PATH}"
        """What the API hands to pages as ``offer_url``."""
        if config.offer_url is None and not settings.streaming.secure:
            Annotations.of(self).add_warning_v2(
                "parley:web-offer-without-tls",
                "No streamingCertificateArn: web calls' offer URL is plain http://, which browsers block from "
                "https pages (mixed content); web calls need -c streamingCertificateArn=... -c streamingDomainName=...",
            )

        self.channel: kinesisvideo.CfnSignalingChannel | None = None
        if config.mode == KVS_TURN:
            self.channel = kinesisvideo.CfnSignalingChannel(
                self,
                "TurnChannel",
                name=settings.resource_name("web-turn"),
                type="SINGLE_MASTER",
                message_ttl_seconds=SIGNALING_MESSAGE_TTL_S,
            )
            self.relay_environment = {KVS_TURN_CHANNEL_VARIABLE: self.channel.attr_arn}
        else:
            self.relay_environment = {ICE_SERVERS_VARIABLE: config.ice_servers_json}

        self.api_environment = {WEB_OFFER_URL_VARIABLE: self.offer_url, **self.relay_environment}
        """The API handler's environment for web calls (``POST /api/v1/web-calls``)."""
        for name, value in self.relay_environment.items():
            streaming.container.add_environment(name, value)
        self.allow_turn_credentials(streaming.task_role)

    def allow_turn_credentials(self, role: iam.IRole) -> None:
        """Fetch TURN credentials from the stack's KVS channel only (nothing to grant with fixed ICE servers)."""
        if self.channel is not None:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(KVS_TURN_ACTIONS), resources=[self.channel.attr_arn])
            )
