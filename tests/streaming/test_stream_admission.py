"""One media stream per call, whichever task the streams reach (the claim on the call record, moto)."""
from __future__ import annotations

import pytest

from chalicelib.db.models import Agent, Call, PostCallAction
from chalicelib.domain import call_media
from chalicelib.domain.call_media import Rejected
from chalicelib.telephony import stream_tokens

SECRET = "admission-secret"


@pytest.fixture()
def token(aws: None) -> str:
    Agent(4, 9, name="Booker", config={"welcome_message": "Hi"}).save()
    Call(4, 78, agent_key="4#9", agent_id=9, to_number="+15550100", status="ringing").save()
    return stream_tokens.issue(SECRET, 4, 78)


@pytest.mark.parametrize("second_sid", ["MZ1", "MZ2"], ids=["replayed_stream_sid", "other_stream_sid"])
def test_a_second_stream_for_a_call_with_a_live_stream_is_refused(token: str, second_sid: str) -> None:
    assert call_media.admit("78", token, "MZ1", SECRET).stream_sid == "MZ1"
    with pytest.raises(Rejected, match="already has a media stream"):
        call_media.admit("78", token, second_sid, SECRET)
    assert Call.get(4, 78).media_stream_sid == "MZ1"


def test_variables_to_extract_read_only_the_actions_config(token: str) -> None:
    """The task role may read an action's ``config`` only (not its sealed secrets): ask for exactly that."""
    PostCallAction("4#9", 1, account_id=4, agent_id=9, type="webhook", sealed_secrets=b"sealed",
                   config={"enabled": True, "extracted_variables": [{"key": "date", "prompt": "The day"}]}).save()
    PostCallAction("4#9", 2, account_id=4, agent_id=9, type="webhook",
                   config={"enabled": False, "extracted_variables": [{"key": "time", "prompt": "The time"}]}).save()
    admission = call_media.admit("78", token, "MZ1", SECRET)
    seen: list[dict] = []
    original = PostCallAction.query

    def query(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostCallAction, "query", query)
        assert call_media.variables_to_extract(admission) == [{"key": "date", "prompt": "The day"}]
    assert [kwargs.get("attributes_to_get") for kwargs in seen] == [["config"]]
