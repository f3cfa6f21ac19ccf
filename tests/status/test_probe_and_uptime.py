"""The probe's bounds (a hung or crashing check is down, never raised), Uptime Kuma's uptime math, and where
the probe's API key comes from in a deployment (a secret an operator fills)."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from chalicelib.status.monitors import CheckResult, Monitor, Status, StatusSettings, never_raises

SETTINGS = StatusSettings(public_api_url=None, streaming_health_url=None, streaming_target_group_arn=None,
                          carrier_api_url="http://127.0.0.1:9", delivery_backlog_limit=10, dialer_backlog_limit=10,
                          dead_letter_limit=0, delivery_age_limit_s=900)


def _beats(*statuses: Status) -> list:
    from chalicelib.status.beats import Beat

    return [Beat(1, i, status, None, "") for i, status in enumerate(statuses)]


def test_uptime_counts_maintenance_as_up_and_pending_as_down_like_uptime_kuma() -> None:
    from chalicelib.status.beats import uptime

    assert uptime(_beats(Status.UP, Status.MAINTENANCE, Status.DOWN, Status.PENDING)) == 0.5
    assert uptime(_beats(*[Status.UP] * 1439, Status.DOWN)) == pytest.approx(0.99931, abs=1e-5)
    assert uptime([]) == 0


def test_latest_is_the_last_hundred_oldest_first() -> None:
    from chalicelib.status.beats import latest

    newest_first = list(reversed(_beats(*[Status.UP] * 250)))
    assert [b.at for b in latest(newest_first)] == list(range(150, 250))


@pytest.fixture()
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_a_check_still_running_at_the_deadline_is_down_and_the_others_keep_their_results(
        release: threading.Event) -> None:
    from chalicelib.status.probe import run_checks

    def hangs(_settings: StatusSettings) -> CheckResult:
        release.wait(30)
        return CheckResult(Status.UP, 1, "")

    monitors = [Monitor(1, "hangs", "", hangs), Monitor(2, "fine", "", lambda _s: CheckResult(Status.UP, 2, ""))]
    results = run_checks(monitors, SETTINGS, deadline_s=0.3)

    assert results == {1: CheckResult(Status.DOWN, None, "timed out"), 2: CheckResult(Status.UP, 2, "")}


def test_a_check_that_raises_is_down_with_a_generic_message() -> None:
    @never_raises
    def broken(_settings: StatusSettings) -> CheckResult:
        raise RuntimeError("https://internal.example/secret?key=pk_123 exploded")

    assert broken(SETTINGS) == CheckResult(Status.DOWN, None, "check failed")


def test_unconfigured_checks_are_pending() -> None:
    from chalicelib.status.monitors import rest_api, streaming_service

    assert rest_api(SETTINGS).status is Status.PENDING
    assert streaming_service(SETTINGS).status is Status.PENDING


def test_in_a_deployment_the_key_comes_from_the_secret_once_an_operator_filled_it(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import aws_clients
    from chalicelib.status import credentials

    secrets = aws_clients.client("secretsmanager")
    arn = secrets.create_secret(Name="parley-status-key", SecretString="placeholder-from-the-stack")["ARN"]
    monkeypatch.setenv(credentials.SECRET_ARN_VARIABLE, arn)

    assert credentials.probe_api_key() is None  # not provisioned: the REST API monitor is pending
    secrets.put_secret_value(SecretId=arn, SecretString="pk_operator-issued")
    assert credentials.probe_api_key() == "pk_operator-issued"
    credentials.forget("pk_operator-issued")  # refused once: read again
    secrets.put_secret_value(SecretId=arn, SecretString="pk_rotated")
    assert credentials.probe_api_key() == "pk_rotated"


def test_in_aws_the_streaming_monitor_reads_the_load_balancers_target_health(aws: None) -> None:
    from chalicelib import aws_clients
    from chalicelib.status.monitors import streaming_service

    ec2 = aws_clients.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    elbv2 = aws_clients.client("elbv2")
    group = elbv2.create_target_group(Name="streaming", Protocol="HTTP", Port=8080, VpcId=vpc,
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    settings = StatusSettings(**{**SETTINGS.__dict__, "streaming_target_group_arn": group})

    down = streaming_service(settings)
    assert (down.status, down.msg) == (Status.DOWN, "no healthy task (0 registered)")
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.0.0.7", "Port": 8080}])
    up = streaming_service(settings)
    assert (up.status, up.msg) == (Status.UP, "1 healthy of 1 tasks")


def test_the_probes_aws_calls_make_one_attempt_through_one_client_per_service(aws: None) -> None:
    from chalicelib import aws_clients
    from chalicelib.status.timeouts import PROBE_AWS_CONFIG

    first = aws_clients.client("cloudwatch", config=PROBE_AWS_CONFIG)
    assert aws_clients.client("cloudwatch", config=PROBE_AWS_CONFIG) is first
    assert first.meta.config.retries["total_max_attempts"] == 1
