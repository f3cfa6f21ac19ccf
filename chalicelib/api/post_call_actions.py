"""/agents/{agent_id}/post-call-actions: where a finished call's results go."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import post_call_actions as actions
from chalicelib.schemas.common import Deleted
from chalicelib.schemas.post_call_actions import (
    ActionCreate,
    ActionCreated,
    ActionList,
    ActionOut,
    ActionUpdate,
    SigningSecret,
)

bp = Blueprint(__name__)
TAG = "Post-call actions"
BASE = "/agents/{agent_id}/post-call-actions"


@api_route(bp, BASE, "GET", RouteSpec("List an agent's post-call actions", TAG, responses={200: ActionList}))
def list_actions(req: ApiRequest, agent_id: int) -> ActionList:
    return actions.list_actions(req.account_id, agent_id)


@api_route(bp, BASE, "POST", RouteSpec(
    "Add a post-call action (a retry with the same Idempotency-Key and body adds nothing)", TAG,
    body=ActionCreate, responses={201: ActionCreated, 200: ActionCreated},
    headers={"Idempotency-Key": "Any unique string, at most 255 characters; remembered for 24 hours."}))
def add_action(req: ApiRequest, agent_id: int) -> tuple[ActionCreated, int]:
    key = next((v for k, v in req.headers.items() if k.lower() == "idempotency-key"), None)
    return actions.add_action(req.account_id, agent_id, req.body, key, req.raw_body)


@api_route(bp, BASE + "/{action_id}", "PATCH", RouteSpec(
    "Update a post-call action (send only the fields to change; the type cannot change)", TAG,
    body=ActionUpdate, responses={200: ActionOut}))
def update_action(req: ApiRequest, agent_id: int, action_id: int) -> ActionOut:
    return actions.update_action(req.account_id, agent_id, action_id, req.body)


@api_route(bp, BASE + "/{action_id}", "DELETE",
           RouteSpec("Delete a post-call action", TAG, responses={200: Deleted}))
def delete_action(req: ApiRequest, agent_id: int, action_id: int) -> Deleted:
    actions.delete_action(req.account_id, agent_id, action_id)
    return Deleted(id=action_id)


@api_route(bp, BASE + "/{action_id}/secret", "GET",
           RouteSpec("Get a webhook action's signing secret (whsec_...)", TAG, responses={200: SigningSecret}))
def get_secret(req: ApiRequest, agent_id: int, action_id: int) -> SigningSecret:
    return actions.signing_secret_of(req.account_id, agent_id, action_id)
