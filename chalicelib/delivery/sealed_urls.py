"""Target URLs that are secrets: sealed with an action's credentials, masked wherever they are shown.

A Slack incoming-webhook URL is itself the credential (anyone holding it can post to the channel), and a
URL with ``user:pass@`` carries a password. Such a URL is stored sealed (``SEALED_KEY`` in the action's
sealed secrets, ``chalicelib.secrets_box``) and the action's config keeps only its masked form
(``https://hooks.slack.com/services/***``, ``https://***@example.com/hook``), which is also all the API ever
returns. ``for_sending`` puts the real URL back for a delivery. Actions stored before URLs were sealed
keep their plain URL in the config: they are sent as before and masked on the way out all the same.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SEALED_KEY = "_url"  # the key of the real URL in an action's sealed secrets
MASK = "***"


def _split(url: str) -> Any:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None


def is_secret(action_type: str, url: str | None) -> bool:
    """Whether ``url`` must not be shown: every Slack webhook URL, and any URL with credentials in it."""
    if not url:
        return False
    if action_type == "slack":
        return True
    parts = _split(url)
    return parts is None or "@" in parts.netloc


def masked(action_type: str, url: str | None) -> str | None:
    """``url`` as it may be shown: Slack keeps its scheme, host and first path segment, any other URL
    loses only its credentials. Masking a masked URL changes nothing."""
    if not url or not is_secret(action_type, url):
        return url
    parts = _split(url)
    if parts is None:
        return MASK
    host = parts.netloc.rpartition("@")[2]
    if action_type == "slack":
        segments = [s for s in parts.path.split("/") if s]
        path = "/" + "/".join([*segments[:1], MASK] if len(segments) > 1 else [MASK])
        return urlunsplit((parts.scheme, host, path, "", ""))
    return urlunsplit((parts.scheme, f"{MASK}@{host}", parts.path, parts.query, parts.fragment))


def for_sending(config: Mapping[str, Any], secrets: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config and credentials a channel gets: the config with the real URL (when it is sealed), the
    credentials without it."""
    credentials = dict(secrets)
    real = credentials.pop(SEALED_KEY, None)
    return ({**config, "url": real} if real else dict(config)), credentials
