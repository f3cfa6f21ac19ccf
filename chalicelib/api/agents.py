"""/agents: create, list, get, update, delete; rotate the web widget's public key."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, RouteSpec, api_route
from chalicelib.domain import agents, web_widget
from chalicelib.schemas.agents import AgentCreate, AgentList, AgentOut, AgentUpdate
from chalicelib.schemas.common import Deleted, Page

bp = Blueprint(__name__)
TAG = "Agents"


@api_route(bp, "/agents", "GET", RouteSpec("List agents, newest first", TAG, query=Page, responses={200: AgentList}))
def list_agents(req: ApiRequest) -> AgentList:
    return agents.list_agents(req.account_id, req.query)


@api_route(bp, "/agents/create", "POST",
           RouteSpec("Create an agent", TAG, body=AgentCreate, responses={201: AgentOut}))
def create_agent(req: ApiRequest) -> AgentOut:
    return agents.create_agent(req.account_id, req.body)


@api_route(bp, "/agents/{agent_id}", "GET", RouteSpec("Get an agent", TAG, responses={200: AgentOut}))
def get_agent(req: ApiRequest, agent_id: int) -> AgentOut:
    return agents.to_out(agents.get_agent(req.account_id, agent_id))


@api_route(bp, "/agents/{agent_id}", "PUT",
           RouteSpec("Update an agent (fields sent replace the stored ones)", TAG, body=AgentUpdate,
                     responses={200: AgentOut}))
def update_agent(req: ApiRequest, agent_id: int) -> AgentOut:
    return agents.update_agent(req.account_id, agent_id, req.body)


@api_route(bp, "/agents/{agent_id}", "DELETE",
           RouteSpec("Delete an agent, its post-call actions, and detach its numbers", TAG,
                     responses={200: Deleted}))
def delete_agent(req: ApiRequest, agent_id: int) -> Deleted:
    agents.delete_agent(req.account_id, agent_id)
    return Deleted(id=agent_id)


@api_route(bp, "/agents/{agent_id}/web-widget/rotate-key", "POST",
           RouteSpec("Replace the agent's web-widget public key (the old one stops working at once)", TAG,
                     responses={200: AgentOut}))
def rotate_widget_key(req: ApiRequest, agent_id: int) -> AgentOut:
    return agents.to_out(web_widget.rotate(req.account_id, agent_id))
