"""The public service status, in Uptime Kuma's status-page shape so its badges and monitors read it unchanged:

- ``GET /api/status-page/heartbeat/all``: each monitor's last beats (at most 100, oldest first) and 24-hour
  uptime, as Uptime Kuma's ``/api/status-page/heartbeat/:slug`` answers (``all`` is the one status page);
- ``GET /api/status-page/monitors``: the monitors (id, name, what each checks).

Public (no API key), mounted at the API's root (not under ``/api/v1``, like Uptime Kuma), cached 60 s by
clients and in the process.
"""
from __future__ import annotations

from datetime import UTC, datetime

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.status.monitors import MONITORS
from chalicelib.status.page import MonitorHistory, cache_seconds, histories

URL_PREFIX = "/api/status-page"
TAG = "Status"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

bp = Blueprint(__name__)


class Heartbeat(BaseModel):
    """One check of one monitor (Uptime Kuma's public heartbeat)."""

    status: int = Field(ge=0, le=3, description="0 down, 1 up, 2 pending, 3 maintenance")
    time: str = Field(description="When the check ran, UTC, 'YYYY-MM-DD HH:MM:SS'")
    msg: str = Field(description="Why a monitor is not up (empty when it is)")
    ping: int | None = Field(description="How long the check took, in milliseconds")


class HeartbeatPage(BaseModel):
    heartbeatList: dict[str, list[Heartbeat]] = Field(description="Monitor id -> its last beats, oldest first")
    uptimeList: dict[str, float] = Field(description="'<monitor id>_24' -> the monitor's 24-hour uptime, 0..1")


class MonitorOut(BaseModel):
    id: int
    name: str
    checks: str = Field(description="What the monitor checks")


class MonitorList(BaseModel):
    monitors: list[MonitorOut]


def heartbeat_page(found: list[MonitorHistory]) -> HeartbeatPage:
    return HeartbeatPage(
        heartbeatList={str(h.monitor.id): [
            Heartbeat(status=int(b.status), time=datetime.fromtimestamp(b.at, UTC).strftime(TIME_FORMAT),
                      msg=b.msg, ping=b.ping_ms) for b in h.beats] for h in found},
        uptimeList={f"{h.monitor.id}_24": h.uptime_24h for h in found},
    )


def _cached_json(model: BaseModel) -> Response:
    return Response(body=model.model_dump_json(), status_code=200, headers={
        "Content-Type": "application/json", "Cache-Control": f"public, max-age={cache_seconds()}",
        "Access-Control-Allow-Origin": "*"})  # status badges and pages read it from any origin


@api_route(bp, "/heartbeat/all", "GET", RouteSpec(
    "Service status: each monitor's last beats and 24-hour uptime (Uptime Kuma's status-page heartbeat)", TAG,
    responses={200: HeartbeatPage}, public=True, errors={503: "The status history cannot be read right now"}))
def heartbeat_all(_req: ApiRequest) -> Response:
    return _cached_json(heartbeat_page(histories()))


@api_route(bp, "/monitors", "GET", RouteSpec(
    "Service status: the monitors and what each checks", TAG, responses={200: MonitorList}, public=True))
def monitors(_req: ApiRequest) -> Response:
    return _cached_json(MonitorList(monitors=[MonitorOut(id=m.id, name=m.name, checks=m.checks) for m in MONITORS]))
