"""What the MCP tools need from Parley: the REST API's operations, on one account, with its schemas.

``DomainBackend`` calls the domain in-process (the HTTP transport, in the Lambda); ``RestBackend`` calls the
REST API (the stdio transport, on the user's machine). Both raise ``ToolFailure`` with the API's own
``error_description`` when Parley refuses an operation.
"""
from __future__ import annotations

from typing import Protocol

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


class ToolFailure(Exception):
    """Parley refused the operation; ``description`` says why, as the REST API's ``error_description`` does."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class Backend(Protocol):
    def list_agents(self, page: Page) -> AgentList: ...

    def get_agent(self, agent_id: int) -> AgentOut: ...

    def create_agent(self, body: AgentCreate) -> AgentOut: ...

    def update_agent(self, agent_id: int, body: AgentUpdate) -> AgentOut: ...

    def dispatch_call(self, body: Dispatch) -> Dispatched: ...

    def list_call_logs(self, query: LogsQuery) -> CallLogList: ...

    def get_call_log(self, call_log_id: int) -> CallOut: ...

    def list_bulk_calls(self, query: BulkCallListQuery) -> BulkCallList: ...

    def get_bulk_call(self, bulk_call_id: int) -> BulkCallOut: ...

    def create_bulk_call(self, body: BulkCallCreate) -> BulkCallOut: ...

    def start_bulk_call(self, bulk_call_id: int) -> BulkCallOut: ...

    def act_on_bulk_call(self, bulk_call_id: int, body: BulkCallAction) -> BulkCallOut: ...

    def cancel_bulk_call(self, bulk_call_id: int) -> BulkCallOut: ...

    def bulk_call_live_status(self, bulk_call_id: int) -> LiveStatus: ...

    def list_phone_numbers(self, page: Page) -> PhoneNumberList: ...
