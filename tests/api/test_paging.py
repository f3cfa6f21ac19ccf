"""Paging: pageno/pagesize (the SDK's) reach a bounded depth, call logs have a cursor, totals are bounded."""
from __future__ import annotations

import pytest

from tests.conftest import AGENT, Tenant


def _calls(tenant: Tenant, count: int, *, agent_id: int = 1, status: str = "completed") -> list[int]:
    """``count`` call items written directly (no carrier): their ids, oldest first."""
    from chalicelib.db.models import Call
    from chalicelib.db.sequences import next_id
    from chalicelib.domain.agents import agent_key

    ids = []
    for _ in range(count):
        call = Call(tenant.account_id, next_id("call"), agent_key=agent_key(tenant.account_id, agent_id),
                    agent_id=agent_id, to_number="+14155550123", status=status, call_context={})
        call.save()
        ids.append(call.call_id)
    return ids


def test_pages_past_the_depth_bound_answer_422_and_point_to_the_cursor(tenant: Tenant) -> None:
    assert tenant.get("calls/logs", params={"pageno": 100, "pagesize": 100}).status_code == 200
    deep = tenant.get("calls/logs", params={"pageno": 101, "pagesize": 100})
    assert deep.status_code == 422
    assert deep.json()["field"] == "pageno" and "cursor" in deep.json()["error_description"]
    for path in ("agents", "phone_number/list", "calls/bulk_call"):
        assert tenant.get(path, params={"pageno": 10_001, "pagesize": 1}).status_code == 422, path


def test_the_call_log_cursor_walks_every_call_once_newest_first(tenant: Tenant) -> None:
    ids = _calls(tenant, 7)
    seen: list[int] = []
    params: dict[str, object] = {"pagesize": 3}
    pages = 0
    while True:
        page = tenant.get("calls/logs", params=params).json()
        pages += 1
        seen += [call["id"] for call in page["call_log_data"]]
        if page["next_cursor"] is None:
            break
        params = {"pagesize": 3, "cursor": page["next_cursor"]}
    assert seen == ids[::-1] and pages == 3


def test_the_cursor_keeps_the_filters(tenant: Tenant) -> None:
    mine = _calls(tenant, 4, agent_id=5, status="busy")
    _calls(tenant, 3, agent_id=6, status="busy")
    _calls(tenant, 2, agent_id=5, status="completed")
    first = tenant.get("calls/logs", params={"pagesize": 3, "agentid": 5, "call_status": "busy"}).json()
    second = tenant.get("calls/logs", params={"pagesize": 3, "agentid": 5, "call_status": "busy",
                                              "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in first["call_log_data"] + second["call_log_data"]] == mine[::-1]
    assert second["next_cursor"] is None


def test_pageno_still_pages_with_totals(tenant: Tenant) -> None:
    ids = _calls(tenant, 5)
    page2 = tenant.get("calls/logs", params={"pageno": 2, "pagesize": 2}).json()
    assert [c["id"] for c in page2["call_log_data"]] == ids[::-1][2:4]
    assert (page2["total_records"], page2["total_records_capped"]) == (5, False)
    assert page2["pageno"] == 2 and page2["pagesize"] == 2


@pytest.mark.parametrize("cursor", ["not-a-cursor", "Y2FsbHM6", "x" * 300])
def test_a_bad_cursor_answers_422(tenant: Tenant, cursor: str) -> None:
    answer = tenant.get("calls/logs", params={"cursor": cursor})
    assert answer.status_code == 422 and answer.json()["field"] == "cursor"


def test_totals_stop_counting_at_the_bound(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.db import paging

    monkeypatch.setattr(paging, "TOTAL_CAP", 4)
    _calls(tenant, 6)
    page = tenant.get("calls/logs", params={"pagesize": 2}).json()
    assert (page["total_records"], page["total_records_capped"]) == (4, True)
    for _ in range(6):
        tenant.post("agents/create", json=AGENT)
    assert tenant.get("agents").json()["total_records"] == 4
