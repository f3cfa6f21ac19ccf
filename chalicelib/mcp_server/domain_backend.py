"""The tools' operations on one account, through the same domain functions the REST routes call."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.domain import agents, calls, campaigns, phone_numbers
from chalicelib.domain.errors import DomainError
from chalicelib.mcp_server.backend import ToolFailure
from chalicelib.schemas.agents import AgentCreate, AgentList, AgentOut, AgentUpdate
from chalicelib.schemas.bulk_calls import (
    BulkCallAction,
    BulkCallCreate,
    BulkCallList,
    BulkCallListQuery,
    BulkCallOut,
    LiveStatus,
)
from chalicelib.schemas.calls import CallLogList, CallOut, Dispatch, Dispatched, LogsQuery
from chalicelib.schemas.common import Page
from chalicelib.schemas.phone_numbers import PhoneNumberList
from chalicelib.telephony.carriers import adapter_from_settings


@contextmanager
def refusals() -> Iterator[None]:
    """A domain error becomes a ``ToolFailure`` with the description the REST API would answer."""
    try:
        yield
    except DomainError as error:
        raise ToolFailure(error.code, error.description) from None


class DomainBackend:
    """Every operation scoped to ``account_id`` (the owner of the request's API key)."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def list_agents(self, page: Page) -> AgentList:
        with refusals():
            return agents.list_agents(self.account_id, page)

    def get_agent(self, agent_id: int) -> AgentOut:
        with refusals():
            return agents.to_out(agents.get_agent(self.account_id, agent_id))

    def create_agent(self, body: AgentCreate) -> AgentOut:
        with refusals():
            return agents.create_agent(self.account_id, body)

    def update_agent(self, agent_id: int, body: AgentUpdate) -> AgentOut:
        with refusals():
            return agents.update_agent(self.account_id, agent_id, body)

    def dispatch_call(self, body: Dispatch) -> Dispatched:
        with refusals():
            return calls.dispatch(self.account_id, body, adapter_from_settings())

    def list_call_logs(self, query: LogsQuery) -> CallLogList:
        with refusals():
            return calls.list_logs(self.account_id, query)

    def get_call_log(self, call_log_id: int) -> CallOut:
        with refusals():
            return calls.get_log(self.account_id, call_log_id)

    def list_bulk_calls(self, query: BulkCallListQuery) -> BulkCallList:
        with refusals():
            return campaigns.list_campaigns(self.account_id, query)

    def get_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        with refusals():
            return campaigns.to_out(campaigns.get_campaign(self.account_id, bulk_call_id))

    def create_bulk_call(self, body: BulkCallCreate) -> BulkCallOut:
        with refusals():
            return campaigns.create(self.account_id, body)

    def start_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        with refusals():
            return campaigns.start(self.account_id, bulk_call_id)

    def act_on_bulk_call(self, bulk_call_id: int, body: BulkCallAction) -> BulkCallOut:
        with refusals():
            return campaigns.act(self.account_id, bulk_call_id, body)

    def cancel_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        with refusals():
            return campaigns.cancel(self.account_id, bulk_call_id)

    def bulk_call_live_status(self, bulk_call_id: int) -> LiveStatus:
        with refusals():
            return campaigns.live_status(self.account_id, bulk_call_id)

    def list_phone_numbers(self, page: Page) -> PhoneNumberList:
        with refusals():
            return phone_numbers.list_numbers(self.account_id, page)
