"""Who is watching: an account's watcher connections, and the streaming tasks' own links."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.db.models import MonitorConnection
from chalicelib.monitoring.subscriptions import Subscription

TASKS_ACCOUNT = 0  # task links are stored under this account id (no real account has it)


@dataclass(frozen=True)
class Watcher:
    connection_id: str
    subscription: Subscription
    subscribed_at: float


def watchers_of(account_id: int) -> list[Watcher]:
    """The account's connections that follow something (one Query on the by-account index)."""
    found = []
    for item in MonitorConnection.by_account.query(account_id):
        subscription = Subscription.from_json(item.subscription)
        if item.kind == "watcher" and not subscription.empty:
            found.append(Watcher(item.connection_id, subscription, float(item.subscribed_at or 0)))
    return found


def task_links() -> dict[str, str]:
    """The streaming tasks' monitoring links: task id -> connection id (the newest when a task has several)."""
    links: dict[str, tuple[float, str]] = {}
    for item in MonitorConnection.by_account.query(TASKS_ACCOUNT):
        if item.kind != "task" or not item.task_id:
            continue
        connected = item.connected_at.timestamp()
        if item.task_id not in links or links[item.task_id][0] < connected:
            links[item.task_id] = (connected, item.connection_id)
    return {task: connection for task, (_, connection) in links.items()}
