"""Assemble the CDK app: one Parley stack for a stage, with the cdk-nag checks attached."""
from __future__ import annotations

from pathlib import Path

from aws_cdk import App

from parley_infra.nag import acknowledge_findings, enable_nag
from parley_infra.settings import StageSettings
from parley_infra.stack import ParleyStack


def build_app(
    settings: StageSettings, *, work_dir: Path, app: App | None = None, nag: bool = True
) -> tuple[App, ParleyStack]:
    """Add the stage's stack to ``app`` (a new one by default) and return both.

    ``work_dir`` receives Chalice's packaging output; it must outlive ``app.synth()``.
    """
    app = app or App()
    stack = ParleyStack(app, settings, work_dir=work_dir)
    if nag:
        enable_nag(app)
        acknowledge_findings(stack)
    return app, stack
