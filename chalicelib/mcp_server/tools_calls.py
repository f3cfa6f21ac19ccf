"""Call tools: dispatch, list call logs, get one (the ``/calls`` routes)."""
from __future__ import annotations

from chalicelib.mcp_server.tooling import NoBody, ToolSpec
from chalicelib.schemas.calls import CallLogList, CallOut, Dispatch, Dispatched, LogsQuery

TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="dispatch_call", title="Dispatch a call",
        description="Have an agent phone someone now. to_number is E.164 (+14155550123); from_number_id picks "
                    "which of your numbers calls (default: one attached to the agent); call_context holds "
                    "variables for this call (e.g. {\"customer_name\": \"Ada\"}). Returns call_id: follow the call "
                    "with get_call_log.",
        body=Dispatch, result=Dispatched, open_world=True,
        run=lambda backend, call: backend.dispatch_call(call.body),
    ),
    ToolSpec(
        name="list_call_logs", title="List call logs",
        description="List calls, newest first: filter by agentid, call_status (queued, ringing, in_progress, "
                    "completed, failed, busy, no_answer) or channel (phone, web); page with pageno/pagesize or "
                    "follow next_cursor with cursor.",
        body=LogsQuery, result=CallLogList, read_only=True,
        run=lambda backend, call: backend.list_call_logs(call.body),
    ),
    ToolSpec(
        name="get_call_log", title="Get a call log",
        description="Get one call: its status, transcript (who said what, when), recording_url (stereo WAV, a "
                    "link valid for an hour), and once the post-call analysis is done, analysis.summary, "
                    "analysis.sentiment and analysis.extracted_variables.",
        body=NoBody, ids=("call_log_id",), result=CallOut, read_only=True,
        run=lambda backend, call: backend.get_call_log(call.ids["call_log_id"]),
    ),
]
