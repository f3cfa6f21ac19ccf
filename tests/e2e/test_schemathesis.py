"""Schemathesis over the whole API served by the local stack: no 5xx, every response fits the schema.

Runs the schemathesis CLI (its pytest plugin does not support pytest 9) against the live local stack.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Calls the fuzzer creates (campaigns of up to 1,000 contacts) are recorded but not placed with the
# carrier simulator: this test is about the API's contract, not about dialling load.
STACK_ENV = {"PARLEY_TELEPHONY": "none", "PARLEY_DEV_VOICE": "0"}

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
])


def test_api_conforms_to_its_schema(local_stack: dict, tmp_path: Path) -> None:
    base = local_stack["api_url"].removesuffix("/api/v1")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/v1/openapi.json",
         "--checks", CHECKS, "--header", f"Authorization: Bearer {local_stack['api_key']}",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "8", "--workers", "2",
         "--generation-deterministic", "--request-timeout", "60", "--suppress-health-check", "all",
         "--continue-on-failure"],
        capture_output=True, text=True, timeout=780, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
