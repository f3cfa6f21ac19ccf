"""The committed OpenAPI document is the one the code describes, and it is served."""
from __future__ import annotations

from tests.conftest import Tenant


def test_committed_document_matches_the_code() -> None:
    from app import app
    from chalicelib.api.openapi import DOCUMENT_PATH, render

    assert DOCUMENT_PATH.read_text() == render(app), "run `make openapi` and commit the result"


def test_document_is_openapi_31_and_served_without_a_key(tenant: Tenant) -> None:
    import requests

    served = requests.get(tenant.url("openapi.json"))
    assert served.status_code == 200
    document = served.json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/calls/dispatch" in document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)
            public = operation.get("security") == []
            assert public or "401" in operation["responses"], (method, path)
