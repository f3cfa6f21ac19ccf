"""Exactly-once counters: 10,000 transitions from 8 workers, 20% duplicated, all shuffled."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from queue import Empty, SimpleQueue

import pytest

from chalicelib.db.models import Call, Campaign, CampaignLine
from chalicelib.domain import call_state

pytestmark = pytest.mark.slow

CALLS = 3340
WORKERS = 8
ACCOUNT, BULK = 1, 1
SCRIPTS = [  # (weight, events a carrier sends for one call)
    (60, ["ringing", "in_progress", "completed"]),
    (15, ["ringing", "busy"]),
    (15, ["ringing", "no_answer"]),
    (10, ["failed"]),
]


def _seed() -> None:
    key = call_state.campaign_key(ACCOUNT, BULK)
    Campaign(ACCOUNT, BULK, name="chaos", agent_id=1, phone_number_id=1, status="in_progress",
             concurrent_call_limit=CALLS, total_contacts=CALLS, queued=0, in_progress=CALLS,
             next_line_id=CALLS, enqueued_upto=CALLS, committed_batches={"b"}).save()
    with CampaignLine.batch_write() as lines, Call.batch_write() as calls:
        for i in range(1, CALLS + 1):
            lines.save(CampaignLine(key, i, batch="b", to_number="+14155550100", status="dialing",
                                    attempts=1, call_id=i))
            calls.save(Call(ACCOUNT, i, agent_key=f"{ACCOUNT}#1", agent_id=1, to_number="+14155550100",
                            status="queued", bulk_call_id=BULK, line_id=i))


def _events(rng: random.Random) -> list[tuple[int, str]]:
    weights = [w for w, _ in SCRIPTS]
    events = []
    for call_id in range(1, CALLS + 1):
        script = rng.choices([s for _, s in SCRIPTS], weights)[0]
        events += [(call_id, status) for status in script]
    events += rng.sample(events, k=len(events) // 5)  # 20% duplicated
    rng.shuffle(events)  # and reordered
    return events


def test_counters_survive_duplicated_and_reordered_events(aws: None) -> None:
    _seed()
    events = _events(random.Random(7))
    assert len(events) >= 10_000
    work: SimpleQueue = SimpleQueue()
    for event in events:
        work.put(event)
    done = threading.Event()
    samples: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                try:
                    call_id, status = work.get_nowait()
                except Empty:
                    return
                call_state.transition(Call.get(ACCOUNT, call_id), status)
        except BaseException as error:  # surfaced below
            errors.append(error)

    def sampler() -> None:
        while not done.is_set():
            samples.append(call_state.summary(Campaign.get(ACCOUNT, BULK, consistent_read=True)))
            time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    watcher = threading.Thread(target=sampler)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert not errors, errors[0]

    final = call_state.summary(Campaign.get(ACCOUNT, BULK, consistent_read=True))
    recount = Counter(call.status for call in Call.query(ACCOUNT))
    assert final["in_progress"] == 0 and sum(recount[s] for s in call_state.NON_TERMINAL) == 0
    for status in call_state.TERMINAL:
        assert final[status] == recount[status], status
    lines = Counter(line.status for line in CampaignLine.query(call_state.campaign_key(ACCOUNT, BULK)))
    assert lines == recount
    assert len(samples) > 20
    for sample in samples + [final]:
        buckets = sum(sample[k] for k in call_state.COUNTERS)
        assert buckets == sample["total_contacts"] == CALLS, sample
