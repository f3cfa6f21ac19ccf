"""How long any one status check may take (the probe bounds all of them together as well)."""
from __future__ import annotations

from botocore.config import Config

CHECK_TIMEOUT_S = 3.0
"""Each check's own bound: HTTP connect and read, each AWS call (one attempt, no retries)."""
# botocore's ``max_attempts`` counts retries (1 meant two attempts) and it rewrites that key in this dict when a
# client is made, which changed ``aws_clients``' cache key and made a second client; ``total_max_attempts`` is
# the attempts themselves and is left alone.
PROBE_AWS_CONFIG = Config(connect_timeout=CHECK_TIMEOUT_S, read_timeout=CHECK_TIMEOUT_S,
                          retries={"total_max_attempts": 1, "mode": "standard"})
PROBE_DEADLINE_S = 8.0
"""The whole probe's bound: a check still running then counts as down ("timed out")."""
