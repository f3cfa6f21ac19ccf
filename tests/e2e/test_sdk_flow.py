"""The real ``omnidimension`` SDK, pointed at the local stack, runs the documented flows unchanged."""
from __future__ import annotations

import random

import pytest
from omnidimension import APIError, Client

# These flows only need calls to ring, answer and hang up: no voice, no models to load.
STACK_ENV = {"PARLEY_DEV_VOICE": "0"}

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "ab" * 16


def test_sdk_drives_agents_actions_numbers_and_calls(local_stack: dict) -> None:
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])

    agent = client.agent.create(
        name="Dental front desk",
        context_breakdown=[{"title": "Role", "body": "Book cleanings.", "is_enabled": True}],
        welcome_message="Hi, Bright Smiles here.",
        transcriber={"provider": "whisper", "silence_timeout_ms": 500},
        voice={"provider": "piper", "voice_id": "en_US-joe-medium"},
        end_call={"enabled": True, "message": "Bye!"},
        timezone="Europe/London",
    )["json"]
    agent_id = agent["id"]
    assert isinstance(agent_id, int)
    assert client.agent.get(agent_id)["json"]["timezone"] == "Europe/London"
    assert any(a["id"] == agent_id for a in client.agent.list(page=1, page_size=10)["json"]["agents"])
    client.agent.update(agent_id, {"welcome_message": "Hello again."})
    assert client.agent.get(agent_id)["json"]["welcome_message"] == "Hello again."

    action = client.agent.add_post_call_action(
        agent_id, "webhook", idempotency_key="first-hook", url="https://example.com/hooks/calls",
        include=["summary", "sentiment"], extracted_variables=[{"key": "date", "prompt": "Booked date"}])["json"]
    again = client.agent.add_post_call_action(
        agent_id, "webhook", idempotency_key="first-hook", url="https://example.com/hooks/calls",
        include=["summary", "sentiment"], extracted_variables=[{"key": "date", "prompt": "Booked date"}])["json"]
    assert again["id"] == action["id"]
    client.agent.update_post_call_action(agent_id, action["id"], include=["summary"])
    actions = client.agent.list_post_call_actions(agent_id)["json"]["post_call_actions"]
    assert [a["include"] for a in actions] == [["summary"]]

    own_number = f"+1415{random.randrange(10**6, 10**7)}"
    imported = client.phone_number.import_twilio(own_number, TWILIO_SID, "tok_" + "x" * 28, name="Main")["json"]
    number_id = imported["phone_number"]["id"]
    client.phone_number.attach(number_id, agent_id)
    numbers = client.phone_number.list(page_size=100)["json"]["phone_numbers"]
    assert {n["id"]: n["agent_id"] for n in numbers}[number_id] == agent_id
    assert "tok_" not in str(numbers)

    dispatched = client.call.dispatch_call(agent_id, "+14155550123", from_number_id=number_id,
                                           call_context={"customer_name": "Ada"})["json"]
    call_id = dispatched["call_id"]
    logs = client.call.get_call_logs(page=1, page_size=10, agent_id=agent_id)["json"]
    assert [c["id"] for c in logs["call_log_data"]] == [call_id]
    log = client.call.get_call_log(call_id)["json"]
    assert log["call_context"] == {"customer_name": "Ada"}
    assert log["call_status"] in ("queued", "ringing", "in_progress", "completed")

    assert client.providers.list_stt()["total"] >= 1
    client.phone_number.detach(number_id)
    client.agent.delete_post_call_action(agent_id, action["id"])
    client.agent.delete(agent_id)
    with pytest.raises(APIError) as missing:
        client.agent.get(agent_id)
    assert missing.value.status_code == 404


def test_sdk_surfaces_our_error_description(local_stack: dict) -> None:
    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    with pytest.raises(APIError) as bad:
        client.call.dispatch_call(1, "not-a-number")
    assert bad.value.status_code == 422 and "to_number" in bad.value.message
    with pytest.raises(APIError) as unauthorized:
        Client("pk_wrong_key_123", base_url=local_stack["api_url"]).agent.list()
    assert unauthorized.value.status_code == 401


def test_a_finished_call_reaches_the_agents_webhook_signed_through_the_local_stack(local_stack: dict) -> None:
    """Dispatch -> the simulator answers and hangs up -> call.completed on the bus -> rule -> SQS -> fan-out
    -> delivery worker -> a signed webhook with the custom payload, and the delivery listed on the call."""
    import requests
    from standardwebhooks.webhooks import Webhook

    from tests.post_call.pipeline import wait_until
    from tests.post_call.receivers import Receiver, serve

    client = Client(local_stack["api_key"], base_url=local_stack["api_url"])
    agent = client.agent.create(name="Notifier", context_breakdown=[{"title": "Role", "body": "Notify."}])
    agent_id = agent["json"]["id"]
    with serve(Receiver()) as receiver:
        action = client.agent.add_post_call_action(
            agent_id, "webhook", url=receiver.url, trigger_call_statuses=["completed", "busy", "no_answer", "failed"],
            payload_template={"call": "{{call_id}}", "who": "{{call_context.customer_name}}",
                              "status": "{{status}}", "summary": "{{summary}}"})["json"]
        number = client.phone_number.import_twilio(f"+1415{random.randrange(10**6, 10**7)}", TWILIO_SID,
                                                   "tok_" + "z" * 28)["json"]["phone_number"]["id"]
        call_id = client.call.dispatch_call(agent_id, "+14155550199", from_number_id=number,
                                            call_context={"customer_name": "Grace"})["json"]["call_id"]
        assert wait_until(lambda: bool(receiver.received), 60)
    [request] = receiver.received
    Webhook(action["signing_secret"]).verify(request.body, request.headers)
    assert request.json["call"] == call_id and request.json["who"] == "Grace"
    assert request.json["status"] in ("completed", "busy", "no_answer", "failed")
    headers = {"Authorization": f"Bearer {local_stack['api_key']}"}
    deliveries = requests.get(f"{local_stack['api_url']}/calls/logs/{call_id}/deliveries", headers=headers,
                              timeout=10).json()["deliveries"]
    assert [(d["action_id"], d["status"]) for d in deliveries] == [(action["id"], "succeeded")]
