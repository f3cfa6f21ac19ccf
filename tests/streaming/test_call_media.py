"""Admission and finalization of a call's media stream against DynamoDB, S3 and EventBridge (moto)."""
from __future__ import annotations

import json
import threading

import boto3
import pytest

from chalicelib import event_bus, recordings
from chalicelib.db.models import Agent, Call
from chalicelib.domain import call_media
from chalicelib.domain.call_media import MediaResult, Rejected
from chalicelib.telephony import stream_tokens

SECRET = "media-secret"


@pytest.fixture()
def call(aws: None) -> Call:
    config = {"welcome_message": "Hi", "context_breakdown": [{"title": "t", "body": "b"}]}
    Agent(4, 9, name="Booker", config=config).save()
    item = Call(4, 77, agent_key="4#9", agent_id=9, to_number="+15550100", status="ringing",
                call_context={"customer_name": "Ada"})
    item.save()
    return item


@pytest.fixture()
def bus_queue(aws: None) -> str:
    """An SQS queue subscribed to every call event on the bus, to read what was announced."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="call-events-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"source": [event_bus.SOURCE]})
    events.put_rule(Name="probe", EventBusName=event_bus.bus_name(), EventPattern=pattern)
    events.put_targets(Rule="probe", EventBusName=event_bus.bus_name(), Targets=[{"Id": "q", "Arn": arn}])
    return url


def announced(url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def result(ended_by: str = "caller") -> MediaResult:
    return MediaResult(ended_by=ended_by, transcript=[{"role": "user", "text": "hello", "start_s": 0.1, "end_s": 0.6}],
                       turn_metrics=[{"turn": 1, "silence_timeout_ms": 500, "speculative": True,
                                      "first_audio_out_ms": 640.0, "engine_ms": {"stt": 200.0}}],
                       wav=b"RIFF....WAVE", duration_s=3.2, conversation={"barge_ins": [120.0]})


def test_admission_checks_the_token_and_claims_the_call_for_one_stream(call: Call) -> None:
    token = stream_tokens.issue(SECRET, 4, 77)
    admission = call_media.admit("77", token, "MZ1", SECRET)
    assert (admission.account_id, admission.agent_name, admission.call_context) == (
        4, "Booker", {"customer_name": "Ada"}
    )
    with pytest.raises(Rejected, match="already has a media stream"):  # a replayed start: one stream per call
        call_media.admit("77", token, "MZ1", SECRET)
    with pytest.raises(Rejected, match="already has a media stream"):
        call_media.admit("77", token, "MZ2", SECRET)
    with pytest.raises(Rejected, match="forged"):
        call_media.admit("77", stream_tokens.issue("other", 4, 77), "MZ3", SECRET)
    with pytest.raises(Rejected, match="not a number"):
        call_media.admit("", token, "MZ3", SECRET)


def test_a_finished_call_cannot_be_streamed_again(call: Call) -> None:
    call.update(actions=[Call.status.set("completed")])
    with pytest.raises(Rejected, match="already ended"):
        call_media.admit("77", stream_tokens.issue(SECRET, 4, 77), "MZ1", SECRET)


def test_finalize_stores_recording_and_transcript_completes_the_call_and_announces_it(
    call: Call, bus_queue: str
) -> None:
    admission = call_media.admit("77", stream_tokens.issue(SECRET, 4, 77), "MZ1", SECRET)
    call_media.started(admission)
    assert Call.get(4, 77).status == "in_progress"
    assert call_media.finalize(admission, result()) is True
    stored = Call.get(4, 77)
    assert stored.status == "completed" and stored.transcript[0]["text"] == "hello"
    assert stored.turn_metrics[0]["first_audio_out_ms"] == 640.0
    assert stored.conversation == {"ended_by": "caller", "barge_ins": [120.0]}
    s3 = boto3.client("s3")
    wav = s3.get_object(Bucket=recordings.bucket_name(), Key=stored.recording["key"])["Body"].read()
    assert wav == b"RIFF....WAVE"
    transcript = s3.get_object(Bucket=recordings.bucket_name(), Key=stored.recording["transcript_key"])
    doc = json.loads(transcript["Body"].read())
    assert doc["turns"][0]["text"] == "hello" and doc["ended_by"] == "caller"
    assert [e["detail-type"] for e in announced(bus_queue)] == ["call.started"]  # completed comes after analysis


def test_complete_records_the_analysis_and_announces_call_completed_once_per_schema(
    call: Call, bus_queue: str
) -> None:
    import jsonschema

    from chalicelib.domain.call_completed import SCHEMA_PATH

    admission = call_media.admit("77", stream_tokens.issue(SECRET, 4, 77), "MZ1", SECRET)
    call_media.started(admission)
    call_media.finalize(admission, result())
    analysis = {"summary": "Said hello.", "sentiment": "neutral", "extracted_variables": {"date": None},
                "errors": ["extracted_variables.date: not found"], "engine": "instant", "compute_ms": 1.0}
    assert call_media.complete(admission, analysis) is True
    assert call_media.complete(admission, analysis) is False  # announced once per call
    events = [e for e in announced(bus_queue) if e["detail-type"] == "call.completed"]
    assert len(events) == 1
    detail = events[0]["detail"]
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(detail)
    assert (detail["call_id"], detail["status"], detail["version"], detail["ended_by"]) == (
        77, "completed", "1", "caller"
    )
    assert detail["agent"] == {"id": 9, "name": "Booker"} and detail["call_context"] == {"customer_name": "Ada"}
    assert detail["transcript"][0]["text"] == "hello" and detail["full_conversation"] == "User: hello"
    assert (detail["summary"], detail["sentiment"], detail["extracted_variables"]) == (
        "Said hello.", "neutral", {"date": None}
    )
    assert detail["analysis_errors"] == ["extracted_variables.date: not found"]
    assert detail["recording_url"].startswith("https://") and "X-Amz-Signature" in detail["recording_url"]
    assert detail["recording_url_expires_at"] > detail["occurred_at"]
    assert detail["duration_s"] == 3.2


def test_finalize_happens_exactly_once_under_concurrent_attempts(call: Call, bus_queue: str) -> None:
    admission = call_media.admit("77", stream_tokens.issue(SECRET, 4, 77), "MZ1", SECRET)
    clients = call_media.AwsClients.create()  # as the streaming service shares them between its threads
    outcomes: list[bool] = []
    threads = [threading.Thread(target=lambda: outcomes.append(call_media.finalize(admission, result(), clients)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True]
    completions: list[bool] = []
    threads = [threading.Thread(target=lambda: completions.append(call_media.complete(admission, {}, clients)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(completions) == [False] * 5 + [True]
    assert [e["detail-type"] for e in announced(bus_queue)] == ["call.completed"]
