"""Bulk call (campaign) tools: list, get, create, start, pause, resume, cancel, live status."""
from __future__ import annotations

from chalicelib.mcp_server.tooling import NoBody, ToolSpec
from chalicelib.schemas.bulk_calls import (
    BulkCallAction,
    BulkCallCreate,
    BulkCallList,
    BulkCallListQuery,
    BulkCallOut,
    LiveStatus,
)

ONE = ("bulk_call_id",)

TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="list_bulk_calls", title="List bulk calls",
        description="List bulk call campaigns, newest first, optionally only those with a status (draft, "
                    "scheduled, in_progress, paused, completed, cancelled).",
        body=BulkCallListQuery, result=BulkCallList, read_only=True,
        run=lambda backend, call: backend.list_bulk_calls(call.body),
    ),
    ToolSpec(
        name="get_bulk_call", title="Get a bulk call",
        description="Get one bulk call campaign: its status, settings and per-status counts of its contacts.",
        body=NoBody, ids=ONE, result=BulkCallOut, read_only=True,
        run=lambda backend, call: backend.get_bulk_call(call.ids["bulk_call_id"]),
    ),
    ToolSpec(
        name="create_bulk_call", title="Create a bulk call",
        description="Create a campaign that calls a list of contacts ({phone_number, ...variables}) from one of "
                    "your numbers (phone_number_id) with an agent (bot_id), at most concurrent_call_limit at a "
                    "time. It starts now, at scheduled_datetime (is_scheduled), or stays a draft (save_as_draft) "
                    "until start_bulk_call.",
        body=BulkCallCreate, result=BulkCallOut, open_world=True,
        run=lambda backend, call: backend.create_bulk_call(call.body),
    ),
    ToolSpec(
        name="start_bulk_call", title="Start a bulk call",
        description="Start a draft or scheduled bulk call now.",
        body=NoBody, ids=ONE, result=BulkCallOut, open_world=True,
        run=lambda backend, call: backend.start_bulk_call(call.ids["bulk_call_id"]),
    ),
    ToolSpec(
        name="pause_bulk_call", title="Pause a bulk call",
        description="Pause a running bulk call: no new contacts are dialled (calls in progress finish).",
        body=NoBody, ids=ONE, result=BulkCallOut,
        run=lambda backend, call: backend.act_on_bulk_call(call.ids["bulk_call_id"], BulkCallAction(action="pause")),
    ),
    ToolSpec(
        name="resume_bulk_call", title="Resume a bulk call",
        description="Resume a paused bulk call.",
        body=NoBody, ids=ONE, result=BulkCallOut, open_world=True,
        run=lambda backend, call: backend.act_on_bulk_call(call.ids["bulk_call_id"],
                                                           BulkCallAction(action="resume")),
    ),
    ToolSpec(
        name="cancel_bulk_call", title="Cancel a bulk call",
        description="Cancel a bulk call for good: contacts not yet dialled end as failed (reason cancelled).",
        body=NoBody, ids=ONE, result=BulkCallOut, destructive=True,
        run=lambda backend, call: backend.cancel_bulk_call(call.ids["bulk_call_id"]),
    ),
    ToolSpec(
        name="get_bulk_call_live_status", title="Bulk call live status",
        description="The live counts of a bulk call (queued, in_progress, completed, failed, busy, no_answer) and "
                    "its status; cheap to poll.",
        body=NoBody, ids=ONE, result=LiveStatus, read_only=True,
        run=lambda backend, call: backend.bulk_call_live_status(call.ids["bulk_call_id"]),
    ),
]
