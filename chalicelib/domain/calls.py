"""Calls: dispatch and logs."""
from __future__ import annotations

import json
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import recordings
from chalicelib.db.models import Call, CallsByAgent, PhoneNumber
from chalicelib.db.paging import bounded_total, decode_cursor, encode_cursor, window
from chalicelib.db.sequences import next_id
from chalicelib.domain import dialer
from chalicelib.domain.agents import agent_key, get_agent
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.phone_numbers import get_number, is_dialable, not_dialable_reason
from chalicelib.monitoring import publish as monitoring
from chalicelib.schemas.calls import (
    CallLogList,
    CallOut,
    Dispatch,
    Dispatched,
    LogsQuery,
)
from chalicelib.telephony.adapter import TelephonyAdapter

MAX_CONTEXT_BYTES = 16 * 1024


def to_out(call: Call) -> CallOut:
    return CallOut(id=call.call_id, agent_id=call.agent_id, to_number=call.to_number,
                   from_number_id=call.from_number_id, call_status=call.status,
                   channel=call.channel or "phone", call_type=call.call_type or "Outgoing",
                   call_context=call.call_context or {}, details=call.details or {},
                   transcript=call.transcript, turn_metrics=call.turn_metrics,
                   recording_url=recordings.presigned_url(call.recording), conversation=call.conversation,
                   analysis=call.analysis, created_at=call.created_at, updated_at=call.updated_at)


def _caller_id(account_id: int, agent_id: int, from_number_id: int | None) -> PhoneNumber:
    if from_number_id is not None:
        return get_number(account_id, from_number_id)
    numbers = list(PhoneNumber.query(account_id))
    attached = [n for n in numbers if n.agent_id == agent_id]
    if attached or numbers:
        return (attached or numbers)[0]
    raise ValidationFailed("no phone number to call from: import one and pass from_number_id",
                           field="from_number_id")


def dispatch(account_id: int, body: Dispatch, telephony: TelephonyAdapter) -> Dispatched:
    if len(json.dumps(body.call_context)) > MAX_CONTEXT_BYTES:
        raise ValidationFailed(f"call_context is larger than {MAX_CONTEXT_BYTES} bytes", field="call_context")
    get_agent(account_id, body.agent_id)
    number = _caller_id(account_id, body.agent_id, body.from_number_id)
    if not is_dialable(number):
        raise Conflict(not_dialable_reason(number), field="from_number_id")
    call = Call(account_id, next_id("call"), agent_key=agent_key(account_id, body.agent_id),
                agent_id=body.agent_id, to_number=body.to_number, from_number_id=number.phone_number_id,
                status="queued", call_context=body.call_context, active_account=account_id,
                channel="whatsapp" if number.provider == "whatsapp" else None)
    call.save(condition=Call.call_id.does_not_exist())
    monitoring.call_queued(call)
    dialer.place(call, telephony)
    return Dispatched(requestId=call.call_id, call_id=call.call_id, call_status=call.status,
                      message="call failed to place; see call_logs" if call.status == "failed"
                      else "call placed with the carrier")


def _filter(query: LogsQuery) -> Condition | None:
    conditions: list[Condition] = []
    if query.call_status:
        conditions.append(Call.status == query.call_status)
    if query.channel == "phone":  # calls made before channels have none: they are phone calls
        conditions.append(Call.channel.does_not_exist() | (Call.channel == "phone"))
    elif query.channel:
        conditions.append(Call.channel == query.channel)
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]


def list_logs(account_id: int, query: LogsQuery) -> CallLogList:
    """Newest first, by ``pageno`` (bounded depth, the SDK's) or by ``cursor`` (any depth)."""
    condition = _filter(query)
    before = None
    if query.cursor is not None:
        before = decode_cursor(query.cursor)
        if before is None:
            raise ValidationFailed("not a cursor this API returned (pass next_cursor as it is)", field="cursor")
    keys: list[str]
    if query.agentid is not None:
        key: int | str = agent_key(account_id, query.agentid)
        source: Any = Call.by_agent
        keys = ["agent_key", "call_id", "account_id"]
        after_cursor = CallsByAgent.call_id < before if before is not None else None
    else:
        key, source, keys = account_id, Call, ["account_id", "call_id"]
        after_cursor = Call.call_id < before if before is not None else None
    results = source.query(key, after_cursor, scan_index_forward=False, filter_condition=condition)
    skip = 0 if before is not None else (query.pageno - 1) * query.pagesize
    items = window(results, skip, query.pagesize + 1)
    more, items = len(items) > query.pagesize, items[: query.pagesize]
    total = bounded_total(source.query(key, scan_index_forward=False, filter_condition=condition,
                                       attributes_to_get=keys))
    return CallLogList(call_log_data=[to_out(c) for c in items], total_records=total.count,
                       total_records_capped=total.capped, pageno=query.pageno, pagesize=query.pagesize,
                       next_cursor=encode_cursor(int(items[-1].call_id)) if more else None)


def get_log(account_id: int, call_id: int) -> CallOut:
    try:
        return to_out(Call.get(account_id, call_id))
    except Call.DoesNotExist:
        raise NotFound(f"call {call_id} not found", field="call_log_id") from None
