"""Secret target URLs: which are secret, how they are shown, and what a channel gets to send with."""
from __future__ import annotations

import pytest

from chalicelib.delivery.sealed_urls import SEALED_KEY, for_sending, is_secret, masked


@pytest.mark.parametrize(("action_type", "url", "shown"), [
    ("slack", "https://hooks.slack.com/services/T0001/B0002/XyZ", "https://hooks.slack.com/services/***"),
    ("slack", "https://hooks.slack.com/XyZ", "https://hooks.slack.com/***"),
    ("slack", "https://u:p@hooks.example:8443/a/b?c=d#e", "https://hooks.example:8443/a/***"),
    ("webhook", "https://user:pass@example.com/hook?x=1", "https://***@example.com/hook?x=1"),
    ("webhook", "https://token@example.com/hook", "https://***@example.com/hook"),
    ("webhook", "https://example.com/hook", "https://example.com/hook"),  # nothing secret in it
])
def test_secret_urls_are_masked_and_masking_is_idempotent(action_type: str, url: str, shown: str) -> None:
    assert masked(action_type, url) == shown
    assert masked(action_type, shown) == shown
    assert is_secret(action_type, url) is (shown != url)
    for part in ("XyZ", "pass", "token", "T0001"):
        assert part not in shown


def test_a_channel_gets_the_real_url_and_credentials_without_it() -> None:
    config = {"url": "https://hooks.slack.com/services/***", "enabled": True}
    real = "https://hooks.slack.com/services/T0001/B0002/XyZ"
    sent_config, credentials = for_sending(config, {SEALED_KEY: real, "access_token": "t"})
    assert sent_config == {"url": real, "enabled": True} and credentials == {"access_token": "t"}
    assert config["url"].endswith("***")  # the stored config is left alone
    assert for_sending({"url": "https://example.com/hook"}, {}) == ({"url": "https://example.com/hook"}, {})
