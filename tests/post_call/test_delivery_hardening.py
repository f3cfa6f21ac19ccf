"""The delivery worker, hardened: oversized rendered bodies and spent email quotas are final, recorded
failures; sealed target URLs are still delivered to."""
from __future__ import annotations

import boto3
import pytest

from chalicelib.db.models import PostCallAction
from chalicelib.delivery import templates
from chalicelib.domain import rate_limits
from tests.post_call.pipeline import (
    add_action,
    all_deliveries,
    completed_event,
    deliveries,
    dlq_messages,
    make_agent,
    put_events,
    running,
    runtime,
    wait_until,
)
from tests.post_call.receivers import Receiver


def test_a_template_rendering_past_the_body_limit_is_a_recorded_failure_never_retried(receiver: Receiver) -> None:
    make_agent()
    action, _ = add_action(1, 1, type="webhook", url=receiver.url)
    # as stored before templates were capped: 252 KB of {{full_conversation}}
    template = {"t": ["{{full_conversation}}"] * 10_500}
    action.update(actions=[PostCallAction.config.set({**action.config, "payload_template": template})])
    with running(runtime()):
        put_events([completed_event(801, full_conversation="Agent: Hello!\nUser: " + "Hi there. " * 500)])
        assert wait_until(lambda: [d.status for d in deliveries(1, 801)] == ["failed"], 20)
    [delivery] = deliveries(1, 801)
    [attempt] = delivery.attempts
    assert attempt["outcome"] == "failed" and attempt["status_code"] is None
    assert f"larger than {templates.MAX_RENDERED_BYTES} bytes" in attempt["error"]
    assert receiver.received == []  # nothing was sent
    assert [m["call_id"] for m in dlq_messages()] == [801]


def test_emails_beyond_the_accounts_daily_quota_fail_for_good_and_are_recorded(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EMAIL_SENDS_PER_DAY", "2")
    monkeypatch.setattr(rate_limits, "_now", lambda: 1_800_000_000 + 3600.0)  # one day throughout
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@parley.local")
    make_agent()
    add_action(1, 1, type="email", recipients=["ops@acme.example"])
    with running(runtime()):
        put_events([completed_event(call_id) for call_id in (811, 812, 813)])
        assert wait_until(lambda: sorted(d.status for d in all_deliveries()) == ["failed", "succeeded", "succeeded"],
                          20)
    [failed] = [d for d in all_deliveries() if d.status == "failed"]
    [attempt] = failed.attempts  # not retried
    assert attempt["outcome"] == "failed" and "limit of 2 post-call emails a day" in attempt["error"]


def test_a_sealed_slack_url_is_delivered_to_while_the_action_shows_it_masked(receiver: Receiver) -> None:
    make_agent()
    action, _ = add_action(1, 1, type="slack", url=receiver.url + "/services/T0001/B0002/secretToken")
    assert action.config["url"].endswith("/hooks/***") and "secretToken" not in str(action.config)
    with running(runtime()):
        put_events([completed_event(821)])
        assert wait_until(lambda: [d.status for d in deliveries(1, 821)] == ["succeeded"], 20)
    [request] = receiver.received
    assert request.path == "/hooks/services/T0001/B0002/secretToken"
    assert "secretToken" not in str(deliveries(1, 821)[0].attempts)
