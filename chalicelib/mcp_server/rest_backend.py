"""The tools' operations through Parley's REST API (the stdio transport: no AWS credentials, only an API key)."""
from __future__ import annotations

from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError

from chalicelib.mcp_server.backend import ToolFailure
from chalicelib.schemas.agents import AgentCreate, AgentList, AgentOut, AgentUpdate
from chalicelib.schemas.bulk_calls import (
    BulkCallAction,
    BulkCallCreate,
    BulkCallList,
    BulkCallListQuery,
    BulkCallOut,
    BulkCallResult,
    LiveStatus,
)
from chalicelib.schemas.calls import CallLogList, CallOut, Dispatch, Dispatched, LogsQuery
from chalicelib.schemas.common import Page
from chalicelib.schemas.phone_numbers import PhoneNumberList

Out = TypeVar("Out", bound=BaseModel)
TIMEOUT_S = (5.0, 30.0)  # connect, read


class RestBackend:
    """Every operation as the REST call the API documents, authenticated with ``api_key``.

    ``api_url`` is the API's base URL, ``https://<api domain>/api/v1`` (``api_url`` in ``.dev/stack.json``).
    """

    def __init__(self, api_url: str, api_key: str, session: requests.Session | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self._session = session or requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    def _call(self, method: str, path: str, answer: type[Out], body: BaseModel | None = None,
              query: BaseModel | None = None) -> Out:
        url = f"{self.api_url}/{path}"
        try:
            response = self._session.request(
                method, url, timeout=TIMEOUT_S,
                json=body.model_dump(mode="json", exclude_unset=True) if body is not None else None,
                params=query.model_dump(mode="json", exclude_none=True) if query is not None else None,
            )
        except requests.RequestException as error:
            raise ToolFailure("unavailable", f"could not reach the Parley API at {self.api_url} "
                                             f"({type(error).__name__})") from None
        payload = _json(response)
        if not response.ok:
            code = str(payload.get("error") or "error") if isinstance(payload, dict) else "error"
            description = payload.get("error_description") if isinstance(payload, dict) else None
            raise ToolFailure(code, str(description or f"the Parley API answered HTTP {response.status_code}"))
        try:
            return answer.model_validate(payload)
        except ValidationError:
            raise ToolFailure("bad_response", f"the Parley API's answer to {method} {path} is not the expected "
                                              f"{answer.__name__}; is this client as recent as the API?") from None

    def list_agents(self, page: Page) -> AgentList:
        return self._call("GET", "agents", AgentList, query=page)

    def get_agent(self, agent_id: int) -> AgentOut:
        return self._call("GET", f"agents/{agent_id}", AgentOut)

    def create_agent(self, body: AgentCreate) -> AgentOut:
        return self._call("POST", "agents/create", AgentOut, body=body)

    def update_agent(self, agent_id: int, body: AgentUpdate) -> AgentOut:
        return self._call("PUT", f"agents/{agent_id}", AgentOut, body=body)

    def dispatch_call(self, body: Dispatch) -> Dispatched:
        return self._call("POST", "calls/dispatch", Dispatched, body=body)

    def list_call_logs(self, query: LogsQuery) -> CallLogList:
        return self._call("GET", "calls/logs", CallLogList, query=query)

    def get_call_log(self, call_log_id: int) -> CallOut:
        return self._call("GET", f"calls/logs/{call_log_id}", CallOut)

    def list_bulk_calls(self, query: BulkCallListQuery) -> BulkCallList:
        return self._call("GET", "calls/bulk_call", BulkCallList, query=query)

    def get_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        return self._call("GET", f"calls/bulk_call/{bulk_call_id}", BulkCallResult).bulk_call

    def create_bulk_call(self, body: BulkCallCreate) -> BulkCallOut:
        return self._call("POST", "calls/bulk_call/create", BulkCallResult, body=body).bulk_call

    def start_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        return self._call("POST", f"calls/bulk_call/{bulk_call_id}/start", BulkCallResult).bulk_call

    def act_on_bulk_call(self, bulk_call_id: int, body: BulkCallAction) -> BulkCallOut:
        return self._call("PUT", f"calls/bulk_call/{bulk_call_id}", BulkCallResult, body=body).bulk_call

    def cancel_bulk_call(self, bulk_call_id: int) -> BulkCallOut:
        return self._call("DELETE", f"calls/bulk_call/{bulk_call_id}", BulkCallResult).bulk_call

    def bulk_call_live_status(self, bulk_call_id: int) -> LiveStatus:
        return self._call("GET", f"bulk-call/{bulk_call_id}/live-status", LiveStatus)

    def list_phone_numbers(self, page: Page) -> PhoneNumberList:
        return self._call("GET", "phone_number/list", PhoneNumberList, query=page)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
