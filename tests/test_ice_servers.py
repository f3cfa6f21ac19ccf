"""ICE servers for web calls: from PARLEY_ICE_SERVERS, or Kinesis Video Streams' managed TURN (its wire
shapes checked by botocore's Stubber against the service models), cached while the credentials last."""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.domain.ice_servers import IceConfigError, IceServers, kvs_stun_url, parse_configured

ARN = "arn:aws:kinesisvideo:eu-west-1:123456789012:channel/parley-turn/1700000000000"
ENDPOINT = "https://r-1a2b3c4d.kinesisvideo.eu-west-1.amazonaws.com"
TURN = {"Uris": ["turn:35-1-2-3.t-1.kinesisvideo.eu-west-1.amazonaws.com:443?transport=udp",
                 "turns:35-1-2-3.t-1.kinesisvideo.eu-west-1.amazonaws.com:443?transport=tcp"],
        "Username": "1700000300:djE6YXJuOmF3czpraW5lc2lz", "Password": "c2VjcmV0LXBhc3N3b3Jk", "Ttl": 300}


def test_configured_servers_take_one_url_or_many() -> None:
    servers = parse_configured(json.dumps([
        {"urls": "stun:stun.l.google.com:19302"},
        {"urls": ["turn:turn.example.org:3478", "turns:turn.example.org:5349"], "username": "u", "credential": "p"},
    ]))
    assert [s.as_json() for s in servers] == [
        {"urls": ["stun:stun.l.google.com:19302"]},
        {"urls": ["turn:turn.example.org:3478", "turns:turn.example.org:5349"], "username": "u", "credential": "p"},
    ]
    assert IceServers.from_env({}).as_json() == []  # none configured: host candidates only
    assert IceServers.from_env({"PARLEY_ICE_SERVERS": "  "}).as_json() == []


@pytest.mark.parametrize("raw", ["{", '{"urls": "stun:a"}', '[{"urls": "https://a"}]', '[{"url": "stun:a"}]',
                                 '[{"urls": []}]', '[{"urls": "stun:a", "password": "x"}]'])
def test_malformed_configuration_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(IceConfigError, match="PARLEY_ICE_SERVERS"):
        IceServers.from_env({"PARLEY_ICE_SERVERS": raw})


def test_a_kvs_channel_arn_must_be_one() -> None:
    with pytest.raises(IceConfigError, match="PARLEY_KVS_TURN_CHANNEL_ARN"):
        IceServers.from_env({"PARLEY_KVS_TURN_CHANNEL_ARN": "arn:aws:s3:::bucket"})


class Kvs:
    """Real botocore clients for kinesisvideo and kinesis-video-signaling, with stubbed responses."""

    def __init__(self) -> None:
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
        self.control = session.client("kinesisvideo")
        self.control_stub = Stubber(self.control)
        self.signaling = session.client("kinesis-video-signaling", endpoint_url=ENDPOINT)
        self.signaling_stub = Stubber(self.signaling)
        self.endpoints_asked: list[tuple[str, str]] = []

    def signaling_client(self, endpoint: str, region: str) -> Any:
        self.endpoints_asked.append((endpoint, region))
        return self.signaling

    def expect_endpoint(self) -> None:
        self.control_stub.add_response(
            "get_signaling_channel_endpoint",
            {"ResourceEndpointList": [{"Protocol": "WSS", "ResourceEndpoint": "wss://v-1.kinesisvideo.eu-west-1.amazonaws.com"},
                                      {"Protocol": "HTTPS", "ResourceEndpoint": ENDPOINT}]},
            {"ChannelARN": ARN,
             "SingleMasterChannelEndpointConfiguration": {"Protocols": ["HTTPS"], "Role": "MASTER"}})

    def expect_turn(self, ttl: int = 300) -> None:
        self.signaling_stub.add_response("get_ice_server_config", {"IceServerList": [{**TURN, "Ttl": ttl}]},
                                         {"ChannelARN": ARN, "Service": "TURN"})


@pytest.fixture()
def kvs() -> Kvs:
    stubs = Kvs()
    stubs.control_stub.activate()
    stubs.signaling_stub.activate()
    return stubs


def test_kvs_turn_credentials_are_asked_once_and_kept_while_they_last(kvs: Kvs) -> None:
    now = [1_000.0]
    servers = IceServers.from_env({"PARLEY_KVS_TURN_CHANNEL_ARN": ARN}, kinesisvideo=kvs.control,
                                  signaling_client=kvs.signaling_client, clock=lambda: now[0], min_remaining_s=120)
    kvs.expect_endpoint()
    kvs.expect_turn(ttl=300)
    expected = [{"urls": ["stun:stun.kinesisvideo.eu-west-1.amazonaws.com:443"]},
                {"urls": TURN["Uris"], "username": TURN["Username"], "credential": TURN["Password"]}]
    assert servers.as_json() == expected
    assert kvs.endpoints_asked == [(ENDPOINT, "eu-west-1")]

    now[0] += 179  # 121 s of life left: kept (no request is stubbed, so any would fail)
    assert servers.as_json() == expected
    kvs.control_stub.assert_no_pending_responses()
    kvs.signaling_stub.assert_no_pending_responses()

    now[0] += 2  # 119 s left: new credentials, from the same endpoint
    kvs.expect_turn(ttl=300)
    assert servers.as_json() == expected
    kvs.signaling_stub.assert_no_pending_responses()
    assert kvs.endpoints_asked == [(ENDPOINT, "eu-west-1")]


def test_kvs_failures_are_config_errors_and_the_endpoint_is_asked_again(kvs: Kvs) -> None:
    servers = IceServers.from_env({"PARLEY_KVS_TURN_CHANNEL_ARN": ARN}, kinesisvideo=kvs.control,
                                  signaling_client=kvs.signaling_client)
    kvs.expect_endpoint()
    kvs.signaling_stub.add_client_error("get_ice_server_config", service_error_code="ResourceNotFoundException",
                                        http_status_code=404)
    with pytest.raises(IceConfigError, match="KVS TURN credentials unavailable"):
        servers.as_json()
    kvs.expect_endpoint()
    kvs.expect_turn()
    assert servers.as_json()[1]["username"] == TURN["Username"]
    assert len(kvs.endpoints_asked) == 2


def test_kvs_stun_url_is_the_regions() -> None:
    assert kvs_stun_url("us-east-1") == "stun:stun.kinesisvideo.us-east-1.amazonaws.com:443"
