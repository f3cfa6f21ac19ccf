"""Per-stage settings: the one place that turns a stage name (and CDK context) into names and URLs."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the Chalice project (``app.py``, ``chalicelib/``, ``.chalice/``) lives here."""

SERVICE_NAME = "parley"

DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
"""Twilio's REST API; any Twilio-compatible carrier API can be set with ``-c twilioApiUrl=...``."""

DEFAULT_STREAMING_URL = "wss://streaming.example.invalid/twilio"
"""Placeholder until the streaming service is deployed: ``-c streamingUrl=wss://...``. Calls placed
while it is in use connect to nothing (``.invalid`` never resolves)."""

CONTEXT_KEYS = {
    "stage": "stage",
    "twilio_api_url": "twilioApiUrl",
    "streaming_url": "streamingUrl",
    "public_api_url": "publicApiUrl",
    "alarm_topic_arn": "alarmTopicArn",
}
"""``StageSettings`` field -> CDK context key (``cdk deploy -c twilioApiUrl=...``)."""

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_HTTPS_URL = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?$")
_WSS_URL = re.compile(r"^wss://[^\s/?#]+(/[^\s?#]*)?$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class _Context(Protocol):
    def try_get_context(self, key: str) -> object: ...


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
    streaming_url: str = DEFAULT_STREAMING_URL
    """``PARLEY_STREAMING_URL``: the wss URL carriers stream call audio to (put in the TwiML)."""
    public_api_url: str | None = None
    """``PARLEY_PUBLIC_API_URL`` override (e.g. a custom domain that maps to the API's stage). None: the
    REST API's own stage URL, ``https://<api-id>.execute-api.<region>.<suffix>/<api stage>``."""
    alarm_topic_arn: str | None = None
    """An existing SNS topic the DLQ alarms notify; None: the alarms only change state."""

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise ValueError(f"stage must match {_STAGE.pattern!r}, got {self.stage!r}")
        if not _HTTPS_URL.match(self.twilio_api_url):
            raise ValueError(f"twilioApiUrl must be an https:// URL, got {self.twilio_api_url!r}")
        if not _WSS_URL.match(self.streaming_url):
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
    def for_stage(cls, stage: str, table_prefix: str | None = None, **options: str | None) -> StageSettings:
        """Settings for ``stage``; the table prefix defaults to ``parley-<stage>``.

        ``options`` are the other fields (``twilio_api_url``...); None or "" keeps a field's default.
        """
        chosen = {key: value for key, value in options.items() if value}
        return cls(stage=stage, table_prefix=table_prefix or f"{SERVICE_NAME}-{stage}", **chosen)

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
        return cls.for_stage(str(stage), **values)  # type: ignore[arg-type]

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
