"""Post-call deliveries: a call's deliveries with their attempts, replays, test sends, secret rotation."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import deliveries
from chalicelib.schemas.deliveries import (
    DeliveryList,
    Recovered,
    RecoverRequest,
    Replayed,
    RotatedSecret,
    TestResult,
)

bp = Blueprint(__name__)
TAG = "Post-call deliveries"
CALL = "/calls/logs/{call_log_id}/deliveries"
ACTION = "/agents/{agent_id}/post-call-actions/{action_id}"


@api_route(bp, CALL, "GET", RouteSpec(
    "List a call's post-call deliveries, one per action, with every attempt", TAG, responses={200: DeliveryList}))
def list_deliveries(req: ApiRequest, call_log_id: int) -> DeliveryList:
    return deliveries.list_deliveries(req.account_id, call_log_id)


@api_route(bp, CALL + "/replay", "POST", RouteSpec(
    "Send all of a call's finished deliveries again (same webhook-id, a new round of attempts)", TAG,
    responses={202: Replayed}))
def replay_all(req: ApiRequest, call_log_id: int) -> tuple[Replayed, int]:
    return deliveries.replay(req.account_id, call_log_id), 202


@api_route(bp, CALL + "/{action_id}/replay", "POST", RouteSpec(
    "Send one finished delivery again (same webhook-id, a new round of attempts)", TAG,
    responses={202: Replayed}))
def replay_one(req: ApiRequest, call_log_id: int, action_id: int) -> tuple[Replayed, int]:
    return deliveries.replay(req.account_id, call_log_id, action_id), 202


@api_route(bp, ACTION + "/recover", "POST", RouteSpec(
    "Send again the action's deliveries that ended undelivered since a time (after an outage of the receiver)",
    TAG, body=RecoverRequest, responses={202: Recovered}))
def recover(req: ApiRequest, agent_id: int, action_id: int) -> tuple[Recovered, int]:
    return deliveries.recover(req.account_id, agent_id, action_id, req.body), 202


@api_route(bp, ACTION + "/test", "POST", RouteSpec(
    "Deliver a sample call.completed event to the action now and return what the receiver answered", TAG,
    responses={200: TestResult}))
def send_test(req: ApiRequest, agent_id: int, action_id: int) -> TestResult:
    return deliveries.send_test(req.account_id, agent_id, action_id)


@api_route(bp, ACTION + "/secret/rotate", "POST", RouteSpec(
    "Rotate a webhook action's signing secret (the old one keeps signing for 24 hours)", TAG,
    responses={200: RotatedSecret}))
def rotate_secret(req: ApiRequest, agent_id: int, action_id: int) -> RotatedSecret:
    return deliveries.rotate_secret(req.account_id, agent_id, action_id)
