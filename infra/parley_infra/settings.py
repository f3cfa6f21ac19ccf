"""Per-stage settings: the one place that turns a stage name (and CDK context) into names and URLs."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chalicelib.queues import DELIVERIES
from parley_infra.throttling import ThrottleSettings
from parley_infra.web_media_settings import WebMediaSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the Chalice project (``app.py``, ``chalicelib/``, ``.chalice/``) lives here."""

SERVICE_NAME = "parley"

DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
"""Twilio's REST API; any Twilio-compatible carrier API can be set with ``-c twilioApiUrl=...``."""

DEFAULT_BEDROCK_MODEL_ID = "amazon.nova-micro-v1:0"
"""The Bedrock foundation model the streaming service converses with (``-c bedrockModelId=...``)."""

CONTEXT_KEYS = {
    "stage": "stage",
    "twilio_api_url": "twilioApiUrl",
    "streaming_url": "streamingUrl",
    "public_api_url": "publicApiUrl",
    "alarm_topic_arn": "alarmTopicArn",
}
"""``StageSettings`` field -> CDK context key (``cdk deploy -c twilioApiUrl=...``)."""

STREAMING_CONTEXT_KEYS = {
    "certificate_arn": "streamingCertificateArn",
    "domain_name": "streamingDomainName",
    "bedrock_model_id": "bedrockModelId",
    "cpu": "streamingCpu",
    "memory_mib": "streamingMemoryMiB",
    "min_tasks": "streamingMinTasks",
    "max_tasks": "streamingMaxTasks",
    "calls_per_task": "streamingCallsPerTask",
    "nat_gateways": "streamingNatGateways",
}
"""``StreamingSettings`` field -> CDK context key (``cdk deploy -c streamingCertificateArn=...``)."""

DELIVERY_CONTEXT_KEYS = {
    "ses_sender": "sesSender",
    "allowed_networks": "deliveryAllowedNetworks",
    "retry_schedule_s": "deliveryRetrySchedule",
}
"""``DeliverySettings`` field -> CDK context key (``cdk deploy -c sesSender='Acme <no-reply@acme.com>'``)."""

MAX_RETRY_DELAY_S = 43_200
"""A retry is held back on the deliveries queue with ChangeMessageVisibility, which stops at 12 hours."""
QUEUE_RETENTION_S = 14 * 24 * 3600
"""The deliveries queue keeps a message 14 days (``parley_infra.queues.RETENTION``): the schedule must fit."""

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_HTTPS_URL = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?$")
_WSS_URL = re.compile(r"^wss://[^\s/?#]+(/[^\s?#]*)?$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_BEDROCK_MODEL_ID = re.compile(r"^[a-z0-9-]+\.[A-Za-z0-9.:_-]+$")
_EMAIL_ADDRESS = re.compile(
    r"^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)
_SENDER_WITH_NAME = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9 '&+_.-]*[A-Za-z0-9'&+_.-])?)\s*<(?P<address>[^<>]+)>$"
)
"""``Display Name <address>``: a plain ASCII name that needs no quoting or encoding in a From header."""
_NEVER_ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("127.0.0.0/8", "169.254.0.0/16", "::1/128", "fe80::/10")
)
"""Loopback and link-local: in Lambda, 127.0.0.1 serves the runtime API (other invocations' events) and
169.254.0.0/16 holds metadata and credentials endpoints on other compute; no setting opens them."""
_FARGATE_CPU_MEMORY = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
    8192: (16384, 61440),
    16384: (32768, 122880),
}
"""Fargate task CPU units -> (min, max) memory in MiB (memory steps are checked by ECS at deploy)."""


class _Context(Protocol):
    def try_get_context(self, key: str) -> object: ...


@dataclass(frozen=True)
class StreamingSettings:
    """How the streaming service (ECS Fargate behind an ALB) is deployed.

    With ``certificate_arn`` the ALB listens for HTTPS/WSS on 443 only and the Lambdas put
    ``wss://<domain_name or ALB DNS name>/twilio`` in the TwiML. Without one (the dev default) the ALB
    listens for plain HTTP on 80 and the URL is ``ws://``: the stack deploys and the service can be
    probed, but Twilio only streams to ``wss://`` URLs, so real calls need a certificate.
    """

    certificate_arn: str | None = None
    """An ACM certificate (same region as the stack) for ``domain_name``."""
    domain_name: str | None = None
    """The name carriers connect to; its DNS record (CNAME/alias to the ALB) is managed outside the stack."""
    bedrock_model_id: str = DEFAULT_BEDROCK_MODEL_ID
    cpu: int = 2048
    """Task CPU units (2048 = 2 vCPU): AWS engines do the heavy lifting, the task moves audio."""
    memory_mib: int = 4096
    min_tasks: int = 1
    max_tasks: int = 10
    calls_per_task: int = 40
    """Target of the ``ActiveCalls`` (average per task) target-tracking policy."""
    nat_gateways: int = 1
    """NAT gateways for the tasks' private subnets: 1 (one AZ's egress) by default, 2 for AZ-independent egress."""

    def __post_init__(self) -> None:
        if self.certificate_arn is not None and not _ACM_CERTIFICATE_ARN.match(self.certificate_arn):
            raise ValueError(f"streamingCertificateArn must be an ACM certificate ARN, got {self.certificate_arn!r}")
        if self.domain_name is not None and not _DOMAIN_NAME.match(self.domain_name):
            raise ValueError(f"streamingDomainName must be a lower-case DNS name, got {self.domain_name!r}")
        if not _BEDROCK_MODEL_ID.match(self.bedrock_model_id):
            raise ValueError(f"bedrockModelId must be a Bedrock model id, got {self.bedrock_model_id!r}")
        memory = _FARGATE_CPU_MEMORY.get(self.cpu)
        if memory is None:
            raise ValueError(f"streamingCpu must be one of {sorted(_FARGATE_CPU_MEMORY)}, got {self.cpu}")
        if not memory[0] <= self.memory_mib <= memory[1]:
            raise ValueError(f"streamingMemoryMiB for {self.cpu} CPU units must be in {memory}, got {self.memory_mib}")
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ValueError("need 1 <= streamingMinTasks <= streamingMaxTasks, "
                             f"got {self.min_tasks}..{self.max_tasks}")
        if self.calls_per_task < 1:
            raise ValueError(f"streamingCallsPerTask must be positive, got {self.calls_per_task}")
        if not 1 <= self.nat_gateways <= 2:
            raise ValueError(f"streamingNatGateways must be 1 or 2, got {self.nat_gateways}")

    @property
    def secure(self) -> bool:
        """Whether the ALB terminates TLS (wss://) rather than serving plain ws://."""
        return self.certificate_arn is not None

    @classmethod
    def from_context(cls, node: _Context) -> StreamingSettings:
        """Settings from CDK context; numbers may be given as strings (``-c streamingMaxTasks=20``)."""
        values: dict[str, object] = {}
        for field, key in STREAMING_CONTEXT_KEYS.items():
            value = node.try_get_context(key)
            if value is None or value == "":
                continue
            if isinstance(cls.__dataclass_fields__[field].default, int):
                try:
                    value = int(value)  # type: ignore[call-overload]  # context values are untyped JSON: a bad one raises below
                except (TypeError, ValueError):
                    raise ValueError(f"context {key} must be an integer, got {value!r}") from None
            elif not isinstance(value, str):
                raise ValueError(f"context {key} must be a string, got {value!r}")
            values[field] = value
        return cls(**values)  # type: ignore[arg-type]  # values are validated field by field above


@dataclass(frozen=True)
class DeliverySettings:
    """How post-call deliveries are sent from this stage (the Lambdas' ``chalicelib.delivery`` settings).

    ``ses_sender`` is the From of email deliveries (``Name <address>`` or ``address``), an SES identity
    verified in the stack's account and region (the address or its domain). Without it the functions get
    an empty ``PARLEY_SES_SENDER`` and no SES permission: email deliveries fail, every other channel works.

    ``allowed_networks`` are the private CIDRs a delivery target may resolve to (``PARLEY_DELIVERY_ALLOWED_NETWORKS``);
    empty by default, so a deployment only ever reaches public addresses. Loopback and link-local ranges
    are refused whatever the setting.

    ``retry_schedule_s`` is the delay before attempts 2, 3, ... in seconds (``PARLEY_DELIVERY_RETRY_SCHEDULE``);
    None keeps the code's default (about 27.6 hours over 8 attempts, like Svix).
    """

    ses_sender: str | None = None
    allowed_networks: tuple[str, ...] = ()
    retry_schedule_s: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.ses_sender is not None:
            self._sender_parts(self.ses_sender)
        normalized = tuple(_allowed_network(value) for value in self.allowed_networks)
        object.__setattr__(self, "allowed_networks", normalized)
        if self.retry_schedule_s is not None:
            _check_retry_schedule(self.retry_schedule_s)

    @staticmethod
    def _sender_parts(sender: str) -> tuple[str, str]:
        """(address, domain) of a ``Name <address>`` or bare ``address`` sender; ValueError otherwise."""
        named = _SENDER_WITH_NAME.match(sender)
        address = named.group("address") if named else sender
        match = _EMAIL_ADDRESS.match(address)
        if match is None:
            raise ValueError(
                "sesSender must be 'Name <address>' or 'address' (a plain ASCII name, a lower-case domain), "
                f"got {sender!r}"
            )
        return address, match.group("domain")

    @property
    def sender_address(self) -> str | None:
        """The address part of ``ses_sender`` (what SES checks as ``ses:FromAddress``)."""
        return self._sender_parts(self.ses_sender)[0] if self.ses_sender else None

    @property
    def sender_domain(self) -> str | None:
        return self._sender_parts(self.ses_sender)[1] if self.ses_sender else None

    @classmethod
    def from_context(cls, node: _Context) -> DeliverySettings:
        """Settings from CDK context: lists as comma-separated strings (``-c deliveryRetrySchedule=5,60``)
        or JSON lists (cdk.json)."""
        sender = node.try_get_context(DELIVERY_CONTEXT_KEYS["ses_sender"])
        if sender is not None and not isinstance(sender, str):
            raise ValueError(f"context sesSender must be a string, got {sender!r}")
        networks = _context_list(node, DELIVERY_CONTEXT_KEYS["allowed_networks"])
        schedule = _context_list(node, DELIVERY_CONTEXT_KEYS["retry_schedule_s"])
        return cls(
            ses_sender=sender or None,
            allowed_networks=tuple(networks or ()),
            retry_schedule_s=tuple(_seconds(value) for value in schedule) if schedule else None,
        )


def _context_list(node: _Context, key: str) -> list[str] | None:
    value = node.try_get_context(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence) and all(isinstance(part, (str, int)) for part in value):
        return [str(part).strip() for part in value]
    raise ValueError(f"context {key} must be a comma-separated string or a list, got {value!r}")


def _seconds(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"deliveryRetrySchedule must list whole seconds, got {value!r}") from None


def _allowed_network(value: str) -> str:
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as error:
        raise ValueError(f"deliveryAllowedNetworks: {value!r} is not a CIDR ({error})") from None
    if network.prefixlen == 0:
        raise ValueError(f"deliveryAllowedNetworks: {value!r} would allow every address")
    for never in _NEVER_ALLOWED_NETWORKS:
        if network.version == never.version and network.overlaps(never):
            raise ValueError(f"deliveryAllowedNetworks: {value!r} overlaps {never} (loopback or link-local)")
    return str(network)


def _check_retry_schedule(schedule: tuple[int, ...]) -> None:
    if not schedule:
        raise ValueError("deliveryRetrySchedule must list at least one delay")
    for delay in schedule:
        if not isinstance(delay, int) or not 1 <= delay <= MAX_RETRY_DELAY_S:
            raise ValueError(
                f"deliveryRetrySchedule: each delay must be 1..{MAX_RETRY_DELAY_S} s "
                f"(SQS holds a message back 12 hours at most), got {delay!r}"
            )
    if len(schedule) + 1 >= DELIVERIES.max_receive_count:
        raise ValueError(
            f"deliveryRetrySchedule: {len(schedule) + 1} attempts must stay below the deliveries queue's "
            f"max_receive_count ({DELIVERIES.max_receive_count}), or SQS dead-letters a delivery mid-schedule"
        )
    if sum(schedule) >= QUEUE_RETENTION_S:
        raise ValueError(
            f"deliveryRetrySchedule: the delays add up to {sum(schedule)} s, more than the deliveries queue "
            f"keeps a message ({QUEUE_RETENTION_S} s)"
        )


@dataclass(frozen=True)
class StageSettings:
    """Names and endpoints for a stage such as ``dev`` or ``prod``.

    ``table_prefix`` is what ``PARLEY_TABLE_PREFIX`` must hold for the PynamoDB models (in this
    process and in the Lambdas) to point at this stage's tables; the queues use the same prefix
    (``PARLEY_QUEUE_PREFIX``).
    """

    stage: str
    table_prefix: str
    twilio_api_url: str = DEFAULT_TWILIO_API_URL
    """``PARLEY_TWILIO_API_URL``: the carrier REST API the dialer places calls with."""
    streaming_url: str | None = None
    """``PARLEY_STREAMING_URL`` override: the wss URL carriers stream call audio to (put in the TwiML).
    None: the deployed streaming service's own URL (``StreamingService.url``)."""
    public_api_url: str | None = None
    """``PARLEY_PUBLIC_API_URL`` override (e.g. a custom domain that maps to the API's stage). None: the
    REST API's own stage URL, ``https://<api-id>.execute-api.<region>.<suffix>/<api stage>``."""
    alarm_topic_arn: str | None = None
    """An existing SNS topic the DLQ alarms notify; None: the alarms only change state."""
    streaming: StreamingSettings = dataclasses.field(default_factory=StreamingSettings)
    """The streaming service's deployment."""
    delivery: DeliverySettings = dataclasses.field(default_factory=DeliverySettings)
    """How post-call deliveries are sent (email sender, allowed private networks, retry schedule)."""
    throttling: ThrottleSettings = dataclasses.field(default_factory=ThrottleSettings)
    """Stage and per-account request throttles, and the queue workers' reserved concurrency."""
    web_media: WebMediaSettings = dataclasses.field(default_factory=WebMediaSettings)
    """How web calls' WebRTC media reaches a streaming task (KVS managed TURN, or configured ICE servers)."""

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise ValueError(f"stage must match {_STAGE.pattern!r}, got {self.stage!r}")
        if not _HTTPS_URL.match(self.twilio_api_url):
            raise ValueError(f"twilioApiUrl must be an https:// URL, got {self.twilio_api_url!r}")
        if self.streaming_url is not None and not _WSS_URL.match(self.streaming_url):
            raise ValueError(f"streamingUrl must be a wss:// URL, got {self.streaming_url!r}")
        if self.public_api_url is not None and (
            not _HTTPS_URL.match(self.public_api_url) or self.public_api_url.endswith("/")
        ):
            raise ValueError(
                f"publicApiUrl must be an https:// URL without a trailing slash, got {self.public_api_url!r}"
            )
        if self.alarm_topic_arn is not None and not _SNS_TOPIC_ARN.match(self.alarm_topic_arn):
            raise ValueError(f"alarmTopicArn must be an SNS topic ARN, got {self.alarm_topic_arn!r}")

    @classmethod
    def for_stage(
        cls,
        stage: str,
        table_prefix: str | None = None,
        *,
        streaming: StreamingSettings | None = None,
        delivery: DeliverySettings | None = None,
        throttling: ThrottleSettings | None = None,
        web_media: WebMediaSettings | None = None,
        **options: str | None,
    ) -> StageSettings:
        """Settings for ``stage``; the table prefix defaults to ``parley-<stage>``.

        ``options`` are the other fields (``twilio_api_url``...); None or "" keeps a field's default.
        """
        chosen: dict[str, object] = {key: value for key, value in options.items() if value}
        if streaming is not None:
            chosen["streaming"] = streaming
        if delivery is not None:
            chosen["delivery"] = delivery
        if throttling is not None:
            chosen["throttling"] = throttling
        if web_media is not None:
            chosen["web_media"] = web_media
        return cls(stage=stage, table_prefix=table_prefix or f"{SERVICE_NAME}-{stage}", **chosen)  # type: ignore[arg-type]  # values are validated field by field above

    @classmethod
    def from_context(cls, node: _Context) -> StageSettings:
        """Settings from CDK context (``-c stage=prod -c streamingUrl=wss://...``).

        The stage falls back to ``PARLEY_STAGE``, then ``dev``.
        """
        values = {field: node.try_get_context(key) for field, key in CONTEXT_KEYS.items()}
        stage = values.pop("stage") or os.environ.get("PARLEY_STAGE") or "dev"
        for field, value in values.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"context {CONTEXT_KEYS[field]} must be a string, got {value!r}")
        return cls.for_stage(
            str(stage),
            streaming=StreamingSettings.from_context(node),
            delivery=DeliverySettings.from_context(node),
            throttling=ThrottleSettings.from_context(node),
            web_media=WebMediaSettings.from_context(node),
            **values,  # type: ignore[arg-type]  # values are validated field by field above
        )

    @property
    def queue_prefix(self) -> str:
        """``PARLEY_QUEUE_PREFIX``: the queues are named like the tables."""
        return self.table_prefix

    @property
    def stack_name(self) -> str:
        """The stack's name (and construct id), e.g. ``parley-dev``."""
        return f"{SERVICE_NAME}-{self.stage}"

    def resource_name(self, suffix: str) -> str:
        """A physical name for this stage, e.g. ``parley-dev-api-handler``."""
        return f"{SERVICE_NAME}-{self.stage}-{suffix}"
