"""Assemble the CDK app: one Parley stack for a stage, with Parley's checks and cdk-nag attached."""
from __future__ import annotations

from pathlib import Path

from aws_cdk import App

from parley_infra.checks import enable_checks
from parley_infra.nag import acknowledge_findings, enable_nag
from parley_infra.settings import StageSettings
from parley_infra.stack import ParleyStack


def build_app(
    settings: StageSettings, *, work_dir: Path, app: App | None = None, nag: bool = True
) -> tuple[App, ParleyStack]:
    """Add the stage's stack to ``app`` (a new one by default) and return both.

    ``work_dir`` receives Chalice's packaging output; it must outlive ``app.synth()``. Parley's own
    template checks (``parley_infra.checks``) always run; ``nag`` adds the cdk-nag rule pack.
    """
    app = app or App()
    stack = ParleyStack(app, settings, work_dir=work_dir)
    enable_checks(app)
    if nag:
        enable_nag(app)
        acknowledge_findings(stack)
    return app, stack
