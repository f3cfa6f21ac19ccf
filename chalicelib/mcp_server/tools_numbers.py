"""Phone number tools: list (``GET /phone_number/list``)."""
from __future__ import annotations

from chalicelib.mcp_server.tooling import ToolSpec
from chalicelib.schemas.common import Page
from chalicelib.schemas.phone_numbers import PhoneNumberList

TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="list_phone_numbers", title="List phone numbers",
        description="List the phone numbers you imported: their id (from_number_id / phone_number_id elsewhere), "
                    "the number, the agent that answers it, and whether calls can be placed from it (dialable).",
        body=Page, result=PhoneNumberList, read_only=True,
        run=lambda backend, call: backend.list_phone_numbers(call.body),
    ),
]
