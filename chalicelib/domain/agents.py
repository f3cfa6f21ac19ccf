"""Agents: create, read, update, delete; account-scoped."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.db.models import Agent, PhoneNumber, PostCallAction, utcnow
from chalicelib.db.paging import bounded_total, page_of
from chalicelib.db.sequences import next_id
from chalicelib.db.transactions import transaction
from chalicelib.domain import post_call_actions, web_widget
from chalicelib.domain.agent_settings import AgentSettings
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.schemas.agents import AgentCreate, AgentList, AgentOut, AgentUpdate, WebWidgetOut
from chalicelib.schemas.common import Page
from chalicelib.schemas.post_call_actions import ActionCreate

MAX_TRANSACTION_ITEMS = 100


def agent_key(account_id: int, agent_id: int) -> str:
    return f"{account_id}#{agent_id}"


def get_agent(account_id: int, agent_id: int, consistent: bool = False) -> Agent:
    try:
        return Agent.get(account_id, agent_id, consistent_read=consistent)
    except Agent.DoesNotExist:
        raise NotFound(f"agent {agent_id} not found", field="agent_id") from None


def to_out(agent: Agent) -> AgentOut:
    settings = AgentSettings.from_stored(agent.config)  # an older agent's unknown keys do not fail the read
    fields = settings.model_dump(exclude_none=True, exclude={"web_widget"})
    widget = None
    if settings.web_widget is not None or agent.public_key:
        section = settings.web_widget
        widget = WebWidgetOut(enabled=bool(section and section.enabled),
                              allowed_origins=list(section.allowed_origins) if section else [],
                              public_key=agent.public_key)
    return AgentOut(id=agent.agent_id, name=agent.name, created_at=agent.created_at,
                    updated_at=agent.updated_at, web_widget=widget, **fields)


def create_agent(account_id: int, body: AgentCreate) -> AgentOut:
    config = body.model_dump(exclude={"name", "post_call_actions"}, exclude_none=True)
    agent = Agent(account_id, next_id("agent"), name=body.name, config=config)
    if body.web_widget is not None and body.web_widget.enabled:
        agent.public_key = web_widget.new_public_key()
    actions = [_legacy_action(kind, spec) for kind, spec in (body.post_call_actions or {}) if spec]
    with transaction() as tx:
        tx.save(agent, condition=Agent.agent_id.does_not_exist())
        if agent.public_key:
            web_widget.add_key(tx, account_id, agent.agent_id, agent.public_key)
        for action in actions:
            item, _secret = post_call_actions.build(account_id, agent.agent_id, action)
            tx.save(item)
    return to_out(agent)


def _legacy_action(kind: str, spec: Any) -> ActionCreate:
    return ActionCreate.model_validate({"type": kind, **spec.model_dump(exclude_none=True)})


def list_agents(account_id: int, page: Page) -> AgentList:
    total = bounded_total(Agent.query(account_id, attributes_to_get=["account_id", "agent_id"])).count
    items = page_of(Agent.query(account_id, scan_index_forward=False), page)
    return AgentList(agents=[to_out(a) for a in items], total_records=total,
                     pageno=page.pageno, pagesize=page.pagesize)


def update_agent(account_id: int, agent_id: int, body: AgentUpdate) -> AgentOut:
    agent = get_agent(account_id, agent_id)
    changes = body.model_dump(exclude_unset=True)
    name = changes.pop("name", None)
    config = {**agent.config, **{k: v for k, v in changes.items()}}
    config = {k: v for k, v in config.items() if v is not None}
    actions: list[Action] = [Agent.config.set(config), Agent.updated_at.set(utcnow())]
    if name is not None:
        actions.append(Agent.name.set(name))
    if not agent.public_key and AgentSettings.from_stored(config).widget_enabled:
        return _update_issuing_key(agent, actions)
    try:
        agent.update(actions=actions, condition=Agent.agent_id.exists())
    except UpdateError:
        raise NotFound(f"agent {agent_id} not found", field="agent_id") from None
    return to_out(agent)


def _update_issuing_key(agent: Agent, actions: list[Action]) -> AgentOut:
    """The update that first enables the web widget: it also issues the agent's public key (one transaction)."""
    public_key = web_widget.new_public_key()
    try:
        with transaction() as tx:
            tx.update(agent, actions=[*actions, Agent.public_key.set(public_key)],
                      condition=Agent.agent_id.exists() & Agent.public_key.does_not_exist())
            web_widget.add_key(tx, agent.account_id, agent.agent_id, public_key)
    except TransactWriteError:
        raise Conflict("the agent changed or was deleted while it was being updated; try again") from None
    return to_out(get_agent(agent.account_id, agent.agent_id, consistent=True))


def delete_agent(account_id: int, agent_id: int) -> None:
    """Delete the agent, its post-call actions and web-widget key, and detach its numbers, all in one
    transaction."""
    agent = get_agent(account_id, agent_id)
    actions = list(PostCallAction.query(agent_key(account_id, agent_id)))
    numbers = [n for n in PhoneNumber.query(account_id, filter_condition=PhoneNumber.agent_id == agent_id)]
    if 2 + len(actions) + len(numbers) > MAX_TRANSACTION_ITEMS:
        raise Conflict("agent has too many post-call actions and numbers to delete at once; remove some first")
    try:
        with transaction() as tx:
            key_held = (Agent.public_key == agent.public_key if agent.public_key
                        else Agent.public_key.does_not_exist())
            tx.delete(agent, condition=Agent.agent_id.exists() & key_held)
            web_widget.remove_key(tx, agent.public_key)
            for action in actions:
                tx.delete(action)
            for number in numbers:
                tx.update(number, actions=[PhoneNumber.agent_id.remove()],
                          condition=PhoneNumber.agent_id == agent_id)
    except TransactWriteError:
        raise Conflict("agent changed while it was being deleted; try again") from None
