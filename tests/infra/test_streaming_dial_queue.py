"""The streaming service ends campaign calls too (``call_end.end_call`` from ``call_media.finalize``): its task
role may feed the dialer queue; and it queues the hang-up of a WhatsApp call it ended on the campaign-operations
queue (``chalicelib.whatsapp.hang_up.request``). No other queue."""
from __future__ import annotations

from chalicelib.queues import CAMPAIGN_OPS, DIALER
from parley_infra.permissions import QUEUE_SEND
from tests.infra.conftest import Synthesized
from tests.infra.helpers import as_list
from tests.infra.test_queues_and_workers import queue_arn
from tests.infra.test_streaming import task_role_statements


def test_task_role_sends_to_the_dialer_and_campaign_ops_queues_only(synthesized: Synthesized) -> None:
    sqs = [s for s in task_role_statements(synthesized.template_json)
           if any(action.startswith("sqs:") for action in as_list(s["Action"]))]
    (statement,) = sqs
    assert sorted(as_list(statement["Action"])) == sorted(QUEUE_SEND)
    assert sorted(as_list(statement["Resource"]), key=str) == sorted(
        [queue_arn(synthesized, DIALER), queue_arn(synthesized, CAMPAIGN_OPS)], key=str)
