#!/usr/bin/env python3
"""CDK entry point: ``python app.py`` (what ``cdk synth`` / ``cdk deploy`` run) synthesizes offline.

The stage comes from ``-c stage=<name>`` (default in cdk.json: ``dev``) or ``PARLEY_STAGE``; the other
context keys (``twilioApiUrl``, ``streamingUrl``, ``publicApiUrl``, ``alarmTopicArn`` and the streaming
service's ``streamingCertificateArn``, ``streamingDomainName``...) are described in README.md. The stack is environment-agnostic: no account or region lookups happen at synth time.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
# The repository root goes first: Chalice imports the Chalice app as the module ``app``, which must
# be the root's app.py, not this file.
sys.path[:0] = [str(INFRA_DIR.parent), str(INFRA_DIR)]

import aws_cdk as cdk  # noqa: E402

from parley_infra.settings import StageSettings  # noqa: E402


def main() -> None:
    """Build the stage's stack (with cdk-nag) and write the cloud assembly."""
    app = cdk.App()
    settings = StageSettings.from_context(app.node)
    # The models read the prefix when first imported, the queues whenever they name a queue: set both
    # before anything imports them.
    os.environ["PARLEY_TABLE_PREFIX"] = settings.table_prefix
    os.environ["PARLEY_QUEUE_PREFIX"] = settings.queue_prefix
    from parley_infra.build import build_app

    with tempfile.TemporaryDirectory(prefix="parley-chalice-") as work_dir:
        build_app(settings, work_dir=Path(work_dir), app=app)
        app.synth()


if __name__ == "__main__":
    main()
