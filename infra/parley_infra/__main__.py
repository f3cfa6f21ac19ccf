"""CDK entry point: ``python -m parley_infra`` (what ``cdk synth`` / ``cdk deploy`` run, see cdk.json) synthesizes
offline.

The stage comes from ``-c stage=<name>`` (default in cdk.json: ``dev``) or ``PARLEY_STAGE``; the other
context keys (``twilioApiUrl``, ``streamingUrl``, ``publicApiUrl``, ``alarmTopicArn`` and the streaming
service's ``streamingCertificateArn``, ``streamingDomainName``...) are described in infra/README.md. The stack
is environment-agnostic: no account or region lookups happen at synth time. The repository is installed as a
workspace (``pip install -e .``), so ``import app`` is the repository's Chalice app wherever this runs.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import aws_cdk as cdk

from parley_infra.settings import StageSettings


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
