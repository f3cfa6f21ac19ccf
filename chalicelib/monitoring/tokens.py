"""Monitor tokens (a browser opening the monitoring WebSocket, which cannot send an Authorization header)
and task tokens (a streaming task's own link to the monitoring API). Both are signed with the service's
stream-token secret under their own purpose, so neither can pass for the other or for a stream token."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib import signed_tokens

MONITOR_PREFIX = "mon_"
TASK_PREFIX = "tsk_"
MONITOR_TTL_S = 300
TASK_TTL_S = 300


@dataclass(frozen=True)
class MonitorClaims:
    account_id: int
    key_hash: str


def issue_monitor_token(secret: str, account_id: int, key_hash: str, now: float | None = None) -> str:
    return MONITOR_PREFIX + signed_tokens.issue(secret, {"a": account_id, "k": key_hash}, MONITOR_TTL_S,
                                                purpose="monitor", now=now)


def verify_monitor_token(secret: str, token: str | None, now: float | None = None) -> MonitorClaims | None:
    if not token or not token.startswith(MONITOR_PREFIX):
        return None
    claims = signed_tokens.verify(secret, token[len(MONITOR_PREFIX):], purpose="monitor", now=now)
    if claims is None or not isinstance(claims.get("a"), int) or not isinstance(claims.get("k"), str):
        return None
    return MonitorClaims(account_id=claims["a"], key_hash=claims["k"])


def issue_task_token(secret: str, task_id: str, now: float | None = None) -> str:
    return TASK_PREFIX + signed_tokens.issue(secret, {"t": task_id}, TASK_TTL_S, purpose="task", now=now)


def verify_task_token(secret: str, token: str | None, now: float | None = None) -> str | None:
    """The task id of an authentic, unexpired task token."""
    if not token or not token.startswith(TASK_PREFIX):
        return None
    claims = signed_tokens.verify(secret, token[len(TASK_PREFIX):], purpose="task", now=now)
    task_id = claims.get("t") if claims else None
    return task_id if isinstance(task_id, str) and 0 < len(task_id) <= 128 else None
