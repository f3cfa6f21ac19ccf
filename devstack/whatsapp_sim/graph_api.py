"""The Graph API stand-in, under ``/v{major}.0/`` (any version):

* ``POST /{phone_number_id}/calls``: ``connect``, ``pre_accept``, ``accept``, ``reject``, ``terminate``;
* ``GET /{phone_number_id}/call_permissions?user_wa_id=``;
* ``POST /{phone_number_id}/messages`` (recorded, for the post-call WhatsApp channel).

``Authorization: Bearer <the number's access token>`` (or ``?access_token=``). Errors are Graph errors.
"""
from __future__ import annotations

import json
import time
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from devstack.whatsapp_sim import business_calls, graph_errors, user_calls
from devstack.whatsapp_sim.app_keys import SIM
from devstack.whatsapp_sim.graph_errors import GraphError
from devstack.whatsapp_sim.models import CallActionBody, MessageBody
from devstack.whatsapp_sim.registry import Number
from devstack.whatsapp_sim.simulator import WhatsAppSimulator

M = TypeVar("M", bound=BaseModel)
VERSION = r"{version:v[0-9]+\.0}"
SUCCESS = {"messaging_product": "whatsapp", "success": True}


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("access_token") or None


def _number(request: web.Request) -> tuple[WhatsAppSimulator, Number]:
    sim = request.app[SIM]
    return sim, sim.authorize(request.match_info["phone_number_id"], _token(request))


async def _body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise graph_errors.invalid_parameter(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise graph_errors.invalid_parameter("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise graph_errors.invalid_parameter(f"{where}: {first['msg']}") from exc


def _graph_json(status: int, payload: Any) -> web.Response:
    return web.json_response(payload, status=status)


async def calls(request: web.Request) -> web.Response:
    sim, number = _number(request)
    body = await _body(request, CallActionBody)
    call = sim.calls.get(body.call_id or "")
    try:
        if body.action == "connect":
            return _graph_json(200, business_calls.connect(sim, number, body))
        if body.action in ("pre_accept", "accept"):
            await user_calls.answer(sim, number, body)
        elif body.action == "reject":
            await user_calls.reject(sim, number, body)
        else:
            target = sim.call_for(number, body.call_id)
            if target.is_over:
                raise graph_errors.invalid_parameter(f"call {target.id} has already ended")
            sim.spawn(sim.end(target, by="business", status="completed", webhook_status="COMPLETED"))
    except GraphError as error:
        if call is not None:
            call.graph_event(body.action, error.status, error.details or error.message)
        raise
    if call is not None:
        call.graph_event(body.action, 200)
    return _graph_json(200, SUCCESS)


async def call_permissions(request: web.Request) -> web.Response:
    sim, number = _number(request)
    user = request.query.get("user_wa_id", "").lstrip("+")
    if not user.isdigit():
        raise graph_errors.invalid_parameter("user_wa_id is required (the user's phone number, digits)")
    return _graph_json(200, sim.registry.permission(number.phone_number_id, user).graph_json(time.time()))


async def messages(request: web.Request) -> web.Response:
    sim, number = _number(request)
    body = await _body(request, MessageBody)
    raw = json.loads(await request.read())
    message = sim.registry.record_message(number, raw)
    return _graph_json(200, {"messaging_product": "whatsapp",
                             "contacts": [{"input": body.to, "wa_id": body.to.lstrip("+")}],
                             "messages": [{"id": message["id"]}]})


async def unsupported(request: web.Request) -> web.Response:
    await request.read()
    raise graph_errors.GraphError(400, graph_errors.INVALID_PARAMETER,
                                  f"Unsupported {request.method.lower()} request to {request.path}",
                                  type_="GraphMethodException")


def routes() -> list[web.RouteDef]:
    base = f"/{VERSION}/{{phone_number_id}}"
    return [web.post(f"{base}/calls", calls), web.get(f"{base}/call_permissions", call_permissions),
            web.post(f"{base}/messages", messages),
            web.route("*", f"/{VERSION}/{{rest:.*}}", unsupported)]


@web.middleware
async def graph_errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except GraphError as error:
        return _graph_json(error.status, error.body())
