"""One module per post-call channel; ``channel_for`` picks the one an action's type needs."""
from __future__ import annotations

from typing import Any

from chalicelib.delivery.contract import Channel, SendQuota
from chalicelib.delivery.safe_http import SafeHttp


def channel_for(action_type: str, http: SafeHttp, ses_client: Any = None,
                email_quota: SendQuota | None = None) -> Channel:
    if action_type == "webhook":
        from chalicelib.delivery.channels.webhook import WebhookChannel

        return WebhookChannel(http)
    if action_type == "email":
        from chalicelib.delivery.channels.email import EmailChannel

        return EmailChannel(ses_client, email_quota)
    if action_type == "slack":
        from chalicelib.delivery.channels.slack import SlackChannel

        return SlackChannel(http)
    if action_type == "salesforce":
        from chalicelib.delivery.channels.salesforce import SalesforceChannel

        return SalesforceChannel(http)
    if action_type == "hubspot":
        from chalicelib.delivery.channels.hubspot import HubSpotChannel

        return HubSpotChannel(http)
    if action_type == "cloud_whatsapp":
        from chalicelib.delivery.channels.whatsapp import WhatsAppChannel

        return WhatsAppChannel(http)
    raise ValueError(f"no channel for post-call action type {action_type!r}")
