"""What the local stack and the tests create for delivery in the embedded AWS (infra/ does it in AWS)."""
from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from chalicelib.delivery.contract import DeliverySettings


def verify_sender(client: Any = None) -> None:
    """SES (moto too) sends only from a verified identity: verify the configured sender."""
    import boto3

    ses = client or boto3.client("ses")
    ses.verify_email_identity(EmailAddress=parseaddr(DeliverySettings.from_env().ses_sender)[1])
