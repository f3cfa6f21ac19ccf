"""Integer ids from a DynamoDB atomic counter (one UpdateItem ADD per id)."""
from __future__ import annotations

from chalicelib.db.models import Sequence


def next_id(kind: str) -> int:
    """Allocate the next id of ``kind``; ids are unique across all accounts and never reused."""
    item = Sequence(kind)
    item.update(actions=[Sequence.value.add(1)])
    return int(item.value)
