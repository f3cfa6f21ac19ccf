"""/calls/bulk_call and /bulk-call/{id}/live-status: campaigns."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import campaigns
from chalicelib.schemas.bulk_calls import (
    AddContacts,
    BulkCallAction,
    BulkCallCreate,
    BulkCallList,
    BulkCallListQuery,
    BulkCallOut,
    BulkCallResult,
    Concurrency,
    Contact,
    ContactsAdded,
    DailyTimeControl,
    LinesPage,
    LinesQuery,
    LiveStatus,
)

bp = Blueprint(__name__)
TAG = "Bulk calls"
ONE = "/calls/bulk_call/{bulk_call_id}"


def _result(message: str, campaign: BulkCallOut) -> BulkCallResult:
    return BulkCallResult(message=message, bulk_call=campaign)


@api_route(bp, "/calls/bulk_call", "GET", RouteSpec(
    "List bulk calls, newest first", TAG, query=BulkCallListQuery, responses={200: BulkCallList}))
def list_bulk_calls(req: ApiRequest) -> BulkCallList:
    return campaigns.list_campaigns(req.account_id, req.query)


@api_route(bp, "/calls/bulk_call/create", "POST", RouteSpec(
    "Create a bulk call (starts now, at scheduled_datetime, or stays a draft)", TAG,
    body=BulkCallCreate, responses={201: BulkCallResult}))
def create(req: ApiRequest) -> BulkCallResult:
    return _result("bulk call created", campaigns.create(req.account_id, req.body))


@api_route(bp, ONE, "GET", RouteSpec("Get a bulk call", TAG, responses={200: BulkCallResult}))
def detail(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("ok", campaigns.to_out(campaigns.get_campaign(req.account_id, bulk_call_id)))


@api_route(bp, ONE, "PUT", RouteSpec(
    "Pause, resume or reschedule a bulk call", TAG, body=BulkCallAction, responses={200: BulkCallResult}))
def act(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result(f"{req.body.action} applied", campaigns.act(req.account_id, bulk_call_id, req.body))


@api_route(bp, ONE, "DELETE", RouteSpec(
    "Cancel a bulk call (contacts not yet dialled end as failed, reason cancelled)", TAG,
    responses={200: BulkCallResult}))
def cancel(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("bulk call cancelled", campaigns.cancel(req.account_id, bulk_call_id))


@api_route(bp, ONE + "/add_contact", "POST", RouteSpec(
    "Add one contact", TAG, body=Contact, responses={201: ContactsAdded}))
def add_contact(req: ApiRequest, bulk_call_id: int) -> ContactsAdded:
    return campaigns.add_contacts(req.account_id, bulk_call_id, AddContacts(contacts=[req.body]))


@api_route(bp, ONE + "/add_contacts", "POST", RouteSpec(
    "Add up to 1000 contacts (all or none)", TAG, body=AddContacts, responses={201: ContactsAdded}))
def add_contacts(req: ApiRequest, bulk_call_id: int) -> ContactsAdded:
    return campaigns.add_contacts(req.account_id, bulk_call_id, req.body)


@api_route(bp, ONE + "/start", "POST", RouteSpec(
    "Start a draft or scheduled bulk call now", TAG, responses={200: BulkCallResult}))
def start(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("bulk call started", campaigns.start(req.account_id, bulk_call_id))


@api_route(bp, ONE + "/concurrency", "PUT", RouteSpec(
    "Change the concurrent call limit", TAG, body=Concurrency, responses={200: BulkCallResult}))
def concurrency(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("concurrency updated", campaigns.set_concurrency(req.account_id, bulk_call_id, req.body))


@api_route(bp, ONE + "/manual_retry", "POST", RouteSpec(
    "Dial again every failed, busy or unanswered contact", TAG, responses={200: BulkCallResult}))
def manual_retry(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("retry requested", campaigns.manual_retry(req.account_id, bulk_call_id))


@api_route(bp, ONE + "/lines", "GET", RouteSpec(
    "Contacts and their call status (cursor pagination)", TAG, query=LinesQuery, responses={200: LinesPage}))
def lines(req: ApiRequest, bulk_call_id: int) -> LinesPage:
    return campaigns.lines(req.account_id, bulk_call_id, req.query)


@api_route(bp, ONE + "/daily-time-control", "PUT", RouteSpec(
    "Set the hours of the day the bulk call may dial", TAG, body=DailyTimeControl, responses={200: BulkCallResult}))
def daily_time_control(req: ApiRequest, bulk_call_id: int) -> BulkCallResult:
    return _result("daily time control updated",
                   campaigns.set_daily_time_control(req.account_id, bulk_call_id, req.body))


@api_route(bp, "/bulk-call/{bulk_call_id}/live-status", "GET", RouteSpec(
    "Live counts of a bulk call (one read, cheap to poll)", TAG, responses={200: LiveStatus}))
def live_status(req: ApiRequest, bulk_call_id: int) -> LiveStatus:
    return campaigns.live_status(req.account_id, bulk_call_id)
