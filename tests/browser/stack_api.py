"""The local stack's REST API as the page tests call it (with the stack's API key)."""
from __future__ import annotations

from typing import Any

import requests


def api(stack: dict, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack['api_url']}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {stack['api_key']}"}, **kwargs)
