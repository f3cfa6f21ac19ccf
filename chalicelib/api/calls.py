"""/calls: dispatch and call logs."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import calls
from chalicelib.schemas.calls import (
    CallLogList,
    CallOut,
    Dispatch,
    Dispatched,
    LogsQuery,
)
from chalicelib.telephony.carriers import adapter_from_settings

bp = Blueprint(__name__)
TAG = "Calls"


@api_route(bp, "/calls/dispatch", "POST", RouteSpec(
    "Dispatch an outbound call from an agent", TAG, body=Dispatch, responses={201: Dispatched}))
def dispatch(req: ApiRequest) -> Dispatched:
    return calls.dispatch(req.account_id, req.body, adapter_from_settings())


@api_route(bp, "/calls/logs", "GET", RouteSpec(
    "List call logs, newest first", TAG, query=LogsQuery, responses={200: CallLogList}))
def list_logs(req: ApiRequest) -> CallLogList:
    return calls.list_logs(req.account_id, req.query)


@api_route(bp, "/calls/logs/{call_log_id}", "GET",
           RouteSpec("Get one call log", TAG, responses={200: CallOut}))
def get_log(req: ApiRequest, call_log_id: int) -> CallOut:
    return calls.get_log(req.account_id, call_log_id)
