"""The simulator's control API, ``/sim/whatsapp/*`` (JSON; errors ``{"error", "error_description"}``):

* ``PUT /sim/whatsapp/numbers/{phone_number_id}`` ``{display_phone_number, access_token, app_secret, webhook_url,
  waba_id?}``: register a business number (what the Meta app and WhatsApp Manager hold).
* ``PUT /sim/whatsapp/permissions/{phone_number_id}/{user_wa_id}`` ``{status, expiration_time?, can_start_call?}``.
* ``PUT /sim/whatsapp/users/{user_wa_id}`` ``{answer, script, name?, answer_after_s?}``: what the user does when a
  business calls.
* ``POST /sim/whatsapp/calls`` ``{phone_number_id, from, name?, script}``: the user calls the business (201
  ``{call_id}``); ``GET /sim/whatsapp/calls``, ``GET /sim/whatsapp/calls/{id}``,
  ``GET /sim/whatsapp/calls/{id}/agent.wav``, ``POST /sim/whatsapp/calls/{id}/hang_up``.
* ``GET /sim/whatsapp/messages``, ``GET /sim/whatsapp/webhooks`` (every delivery attempt, with its body),
  ``POST /sim/reset``.
"""
from __future__ import annotations

import json
import secrets
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from devstack.whatsapp_sim import user_calls
from devstack.whatsapp_sim.app_keys import SIM
from devstack.whatsapp_sim.calls import SimCall
from devstack.whatsapp_sim.models import NumberBody, PermissionBody, StartCallBody, UserBody, script_steps
from devstack.whatsapp_sim.registry import Number, User
from devstack.whatsapp_sim.simulator import SimError

M = TypeVar("M", bound=BaseModel)
DIGITS_ID = r"{%s:[0-9]{1,32}}"


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        data = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimError(400, "bad_request", f"the body is not JSON: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise SimError(400, "bad_request", f"{where}: {first['msg']}") from exc


def _call(request: web.Request) -> SimCall:
    call = request.app[SIM].calls.get(request.match_info["call_id"])
    if call is None:
        raise SimError(404, "not_found", f"no call {request.match_info['call_id']}")
    return call


async def put_number(request: web.Request) -> web.Response:
    body = await _body(request, NumberBody)
    phone_number_id = request.match_info["phone_number_id"]
    number = Number(phone_number_id, body.display_phone_number, body.access_token, body.app_secret,
                    body.webhook_url, body.waba_id or str(100000000000000 + secrets.randbelow(10**14)))
    request.app[SIM].registry.numbers[phone_number_id] = number
    return web.json_response(number.to_json())


async def put_permission(request: web.Request) -> web.Response:
    body = await _body(request, PermissionBody)
    phone_number_id, user = request.match_info["phone_number_id"], request.match_info["user_wa_id"]
    permission = request.app[SIM].registry.set_permission(phone_number_id, user, body.status, body.expiration_time,
                                                          body.can_start_call)
    return web.json_response({"phone_number_id": phone_number_id, "user_wa_id": user, "status": permission.status,
                              "expiration_time": permission.expiration_time,
                              "can_start_call": permission.can_start_call})


async def put_user(request: web.Request) -> web.Response:
    body = await _body(request, UserBody)
    user = User(request.match_info["user_wa_id"], body.answer, script_steps(body.script), body.name,
                body.answer_after_s)
    request.app[SIM].registry.users[user.wa_id] = user
    return web.json_response(user.to_json())


async def start_call(request: web.Request) -> web.Response:
    call = await user_calls.ring_business(request.app[SIM], await _body(request, StartCallBody))
    return web.json_response({"call_id": call.id, "call": call.to_json()}, status=201)


async def list_calls(request: web.Request) -> web.Response:
    return web.json_response({"calls": [call.to_json() for call in request.app[SIM].calls.values()]})


async def get_call(request: web.Request) -> web.Response:
    return web.json_response(_call(request).to_json())


async def agent_wav(request: web.Request) -> web.Response:
    call = _call(request)
    if call.peer is None:
        raise SimError(404, "no_audio", f"call {call.id} had no media")
    return web.Response(body=call.peer.listener.wav(), content_type="audio/wav")


async def hang_up(request: web.Request) -> web.Response:
    call = _call(request)
    await request.app[SIM].hang_up(call)
    return web.json_response(call.to_json())


async def messages(request: web.Request) -> web.Response:
    return web.json_response({"messages": request.app[SIM].registry.messages})


async def webhooks(request: web.Request) -> web.Response:
    return web.json_response({"deliveries": request.app[SIM].webhooks.deliveries})


async def reset(request: web.Request) -> web.Response:
    await request.read()
    await request.app[SIM].reset()
    return web.json_response({"reset": True})


async def no_route(request: web.Request) -> web.Response:
    await request.read()
    raise SimError(404, "not_found", f"no route {request.method} {request.path}")


def routes() -> list[web.RouteDef]:
    pn, user = DIGITS_ID % "phone_number_id", DIGITS_ID % "user_wa_id"
    return [web.put(f"/sim/whatsapp/numbers/{pn}", put_number),
            web.put(f"/sim/whatsapp/permissions/{pn}/{user}", put_permission),
            web.put(f"/sim/whatsapp/users/{user}", put_user),
            web.post("/sim/whatsapp/calls", start_call), web.get("/sim/whatsapp/calls", list_calls),
            web.get("/sim/whatsapp/calls/{call_id}", get_call),
            web.get("/sim/whatsapp/calls/{call_id}/agent.wav", agent_wav),
            web.post("/sim/whatsapp/calls/{call_id}/hang_up", hang_up),
            web.get("/sim/whatsapp/messages", messages), web.get("/sim/whatsapp/webhooks", webhooks),
            web.post("/sim/reset", reset), web.route("*", "/sim/{rest:.*}", no_route)]


@web.middleware
async def sim_errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except SimError as error:
        return web.json_response({"error": error.error, "error_description": error.description}, status=error.status)
