"""Per-stage naming: the one place that turns a stage name into resource names and the table prefix."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the Chalice project (``app.py``, ``chalicelib/``, ``.chalice/``) lives here."""

SERVICE_NAME = "parley"

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


@dataclass(frozen=True)
class StageSettings:
    """Names derived from a stage such as ``dev`` or ``prod``.

    ``table_prefix`` is what ``PARLEY_TABLE_PREFIX`` must hold for the PynamoDB models (in this
    process and in the Lambdas) to point at this stage's tables.
    """

    stage: str
    table_prefix: str

    @classmethod
    def for_stage(cls, stage: str, table_prefix: str | None = None) -> StageSettings:
        """Settings for ``stage``; the table prefix defaults to ``parley-<stage>``."""
        if not _STAGE.match(stage):
            raise ValueError(f"stage must match {_STAGE.pattern!r}, got {stage!r}")
        return cls(stage=stage, table_prefix=table_prefix or f"{SERVICE_NAME}-{stage}")

    @property
    def stack_name(self) -> str:
        """The stack's name (and construct id), e.g. ``parley-dev``."""
        return f"{SERVICE_NAME}-{self.stage}"

    def resource_name(self, suffix: str) -> str:
        """A physical name for this stage, e.g. ``parley-dev-api-handler``."""
        return f"{SERVICE_NAME}-{self.stage}-{suffix}"
