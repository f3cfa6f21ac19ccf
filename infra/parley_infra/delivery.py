"""Post-call delivery: the rule that routes ``call.completed`` to SQS, the delivery functions' settings and
the permissions of the delivery channels.

The flow (``chalicelib.delivery``)::

    streaming task / API handler / dialer --PutEvents--> calls bus (parley-<stage>-calls)
        --rule call-completed--> call-events queue --> CallEventsWorker (one Delivery per enabled action)
        --> deliveries queue --> DeliveryWorker (one attempt; retries held back on the queue)
        --> webhook (HTTPS), email (SES), Slack, Salesforce, HubSpot, WhatsApp Cloud API

The streaming service announces calls that had a conversation (after the analysis); the API handler
(carrier status callbacks) and the dialer announce calls that ended without media (busy, no answer,
failed). All of them put the same event: source ``parley.calls``, detail-type ``call.completed``.

The rules come from ``chalicelib.event_bus.ROUTES``, as the local stack's do. The rule's target retries
for 24 hours (EventBridge's maximum); an event it still cannot deliver lands in
the call-events DLQ (its body is the event, as on the queue, so a redrive to call-events replays it), where
the DLQ alarm sees it. The queues are SSE-SQS encrypted, which EventBridge can write to without a key grant.

The delivery worker records every attempt on the Delivery item and holds a retry back on its own queue
(ChangeMessageVisibility, up to 12 hours a step); after the last attempt it sends the message to the
deliveries DLQ itself, the one role allowed to write to a DLQ. The queue's redrive policy (50 receives)
only catches messages that crash the consumer. Outbound calls go straight to the internet (the functions
are not in a VPC); ``chalicelib.delivery.safe_http`` refuses private targets after DNS resolution unless
``deliveryAllowedNetworks`` lists them.

Channel credentials (webhook signing secrets, Slack/HubSpot/Salesforce/WhatsApp tokens) are sealed per
action with the stage's secrets key (``chalicelib.secrets_box.KmsSecretBox``, encryption context
``parley:account_id``) and stored on the PostCallAction item, like carrier credentials on phone numbers.
No Secrets Manager secret per action: the stack's one secret is the stream-token HMAC key. So the key's
grants are: the delivery worker opens (``kms:Decrypt``), the API handler seals and opens (it creates actions,
rotates webhook secrets and sends test events), both only with the ``parley:account_id`` context key.
"""
from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from chalicelib.event_bus import ROUTES
from parley_infra.permissions import allow_email_sending
from parley_infra.queues import ParleyQueues
from parley_infra.settings import DeliverySettings, StageSettings

DELIVERY_TIMEOUT_S = 10
"""``PARLEY_DELIVERY_TIMEOUT_S``: one attempt's whole HTTP exchange (redirects included)."""

CALL_EVENTS_WORKER_TIMEOUT_S = 30
DELIVERY_WORKER_TIMEOUT_S = 90
"""Lambda timeouts of the two consumers, inside their queues' visibility timeouts (60 s and 120 s)."""

TARGET_RETRY_ATTEMPTS = 185
TARGET_MAX_EVENT_AGE = Duration.hours(24)
"""EventBridge's maximum retry policy for the rule's target (its defaults, written down)."""


def delivery_environment(settings: DeliverySettings) -> dict[str, str]:
    """What ``chalicelib.delivery.contract.DeliverySettings.from_env`` reads, for this deployment.

    ``PARLEY_DELIVERY_ALLOWED_NETWORKS`` and ``PARLEY_SES_SENDER`` are always set (empty when not
    configured), so nothing falls back to the local stack's defaults; the retry schedule is only set
    when configured (the code's default applies otherwise).
    """
    environment = {
        "PARLEY_DELIVERY_TIMEOUT_S": str(DELIVERY_TIMEOUT_S),
        "PARLEY_DELIVERY_ALLOWED_NETWORKS": ",".join(settings.allowed_networks),
        "PARLEY_SES_SENDER": settings.ses_sender or "",
    }
    if settings.retry_schedule_s is not None:
        environment["PARLEY_DELIVERY_RETRY_SCHEDULE"] = ",".join(str(s) for s in settings.retry_schedule_s)
    return environment


def ses_identity_arns(settings: DeliverySettings) -> list[str]:
    """The SES identities the sender can be verified as: the address, its domain and the domain's parents.

    SES authorizes a send against the identity that verified the From address (the address itself or
    the domain it belongs to), so the grant names each candidate rather than ``identity/*``.
    """
    address, domain = settings.sender_address, settings.sender_domain
    if address is None or domain is None:
        return []
    labels = domain.split(".")
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return [f"arn:{Aws.PARTITION}:ses:{Aws.REGION}:{Aws.ACCOUNT_ID}:identity/{name}" for name in [address, *domains]]


def allow_email_deliveries(role: iam.IRole, settings: DeliverySettings) -> bool:
    """SES sends as ``sesSender`` (True), or nothing when no sender is configured (False)."""
    if settings.sender_address is None:
        return False
    allow_email_sending(role, ses_identity_arns(settings), settings.sender_address)
    return True


_PATTERN_FIELDS = {"source": "source", "detail-type": "detail_type", "detail": "detail"}


def event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """A ``chalicelib.event_bus.ROUTES`` pattern (EventBridge JSON) as a CDK ``EventPattern``."""
    unknown = sorted(set(pattern) - set(_PATTERN_FIELDS))
    if unknown:
        raise ValueError(f"event pattern fields {unknown} are not supported here; add them to _PATTERN_FIELDS")
    return events.EventPattern(**{_PATTERN_FIELDS[key]: value for key, value in pattern.items()})


class CallEventRouting(Construct):
    """A rule on the calls bus per ``chalicelib.event_bus.ROUTES`` entry (the local stack creates the same
    rules from it), each targeting its queue: today ``call-completed`` -> the call-events queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        bus: events.IEventBus,
        queues: ParleyQueues,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for suffix, (pattern, queue_key) in ROUTES.items():
            queue = queues.queues[queue_key]
            rule = events.Rule(
                self,
                "".join(part.capitalize() for part in suffix.split("-")),
                event_bus=bus,
                rule_name=settings.resource_name(suffix),
                description=f"Routes {json.dumps(pattern)} to the {queue.name} queue",
                event_pattern=event_pattern(pattern),
            )
            # The target adds a statement to each queue's policy: events.amazonaws.com may send, only on
            # behalf of this rule (aws:SourceArn).
            rule.add_target(
                targets.SqsQueue(
                    queue.queue,
                    dead_letter_queue=queue.dead_letters,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                )
            )
            self.rules[suffix] = rule
