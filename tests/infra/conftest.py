"""Synthesizes the Parley stack once per test session (about 10 s: ``chalice package`` plus synth).

``tests/conftest.py`` has already set the environment defaults (region, ``PARLEY_TABLE_PREFIX``...).
The stack is built with whatever prefix this process's models use, so nothing here assumes one.
Its settings are the defaults plus an email sender (``SES_SENDER``), so the SES grants are in the template.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SES_SENDER = "Parley Calls <no-reply@mail.example.com>"
"""``sesSender`` of the session's stack (every other setting is the default)."""


@dataclass(frozen=True)
class Synthesized:
    app: Any
    stack: Any
    template: Any
    """``aws_cdk.assertions.Template`` of the stack."""
    template_json: dict[str, Any]
    validation_report: dict[str, Any]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    import aws_cdk as cdk

    from parley_infra.build import build_app
    from parley_infra.settings import DeliverySettings, StageSettings

    work = tmp_path_factory.mktemp("infra")
    settings = StageSettings.for_stage(
        "test", table_prefix=os.environ["PARLEY_TABLE_PREFIX"], delivery=DeliverySettings(ses_sender=SES_SENDER)
    )
    outdir = work / "cdk.out"
    app, stack = build_app(settings, work_dir=work / "chalice", app=cdk.App(outdir=str(outdir)))
    yield synthesize(app, stack, outdir)


def synthesize(app: Any, stack: Any, outdir: Path) -> Synthesized:
    """Synthesize ``app`` (written to ``outdir``) and collect ``stack``'s template and the validation report."""
    from aws_cdk.assertions import Template

    try:
        assembly = app.synth()
    except RuntimeError as error:  # cdk-nag findings (or another validation) stop synthesis
        report = outdir / "validation-report.json"
        details = report.read_text() if report.exists() else ""
        pytest.fail(f"synth failed: {error}\n{details}")
    template_json = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(
        app=app,
        stack=stack,
        template=Template.from_json(template_json),
        template_json=template_json,
        validation_report=json.loads((outdir / "validation-report.json").read_text()),
    )
