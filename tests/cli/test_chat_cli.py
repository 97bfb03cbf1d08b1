"""`augment ask` and `augment chat` through click's CliRunner, on the real default model."""

from __future__ import annotations

import sys
import types

import pytest
from click.testing import CliRunner

from augment.cli import main
from augment.llm.fake import FakeLLM


@pytest.fixture
def use_llm(monkeypatch):
    """Make the commands use a given (already loaded) model instead of loading one; records the spec asked for."""
    asked = []

    def install(llm):
        import augment.cli.chat_cmd as chat_mod

        monkeypatch.setattr(chat_mod, "load_llm", lambda spec=None: asked.append(spec) or llm)
        return asked

    return install


def test_help_lists_every_command():
    out = CliRunner().invoke(main, ["--help"]).output
    for name in ("chat", "ask", "ingest", "agent", "finetune", "eval", "serve"):
        assert f"  {name} " in out
    assert "--max-tokens" in CliRunner().invoke(main, ["ask", "--help"]).output


def test_ask_prints_the_models_answer(default_llm, use_llm):
    asked = use_llm(default_llm)
    result = CliRunner().invoke(main, ["ask", "What is the capital of France?", "--max-tokens", "6", "--model", "default"])
    assert result.exit_code == 0, result.output
    assert result.output == default_llm.complete("What is the capital of France?", max_tokens=6).text + "\n"
    assert asked == ["default"]


def test_chat_streams_keeps_history_and_resets(default_llm, use_llm):
    use_llm(default_llm)
    result = CliRunner().invoke(main, ["chat", "--max-tokens", "4", "--system", "Be brief."],
                                input="What is the capital of France?\n/exit\n")
    assert result.exit_code == 0, result.output
    expected = default_llm.complete([{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "What is the capital of France?"}], max_tokens=4).text
    assert f"assistant> {expected}\n" in result.output


def test_chat_history_and_reset_logic(use_llm):
    import importlib.util

    llm = FakeLLM(["Paris is the capital.", "About 2 million.", "Hello again."])
    asked = use_llm(llm)
    result = CliRunner().invoke(main, ["chat"], input="Capital of France?\nPopulation?\n/reset\nHi\n")
    assert result.exit_code == 0, result.output
    # free-form chat on the default model runs on llama.cpp when it is installed (the faster decoder)
    assert asked == ["llamacpp" if importlib.util.find_spec("llama_cpp") else None]
    second, third = llm.calls[1].messages, llm.calls[2].messages
    assert [m.content for m in second] == ["Capital of France?", "Paris is the capital.", "Population?"]
    assert [m.content for m in third] == ["Hi"]  # /reset forgot the history
    assert "(conversation reset)" in result.output and "assistant> Hello again.\n" in result.output


def test_chat_engine_choice(monkeypatch):
    import importlib.util

    from augment.cli.chat_cmd import chat_model_spec

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else real(name, *a))
    assert chat_model_spec(None) == "llamacpp"
    assert chat_model_spec("default") == "default" and chat_model_spec("openai:x") == "openai:x"  # --model wins
    assert chat_model_spec(None, collection="docs") is None and chat_model_spec(None, guard_policy="g.yaml") is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    assert chat_model_spec(None) is None  # not installed: transformers


def test_bad_model_gives_a_clean_error_not_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["ask", "hi", "--model", str(tmp_path / "nope.gguf")])
    assert result.exit_code == 1
    assert "Error: GGUF file not found" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["ask", "hi", "--max-tokens", "0"])
    assert result.exit_code == 2 and "--max-tokens" in result.output


def test_collection_delegates_to_rag(use_llm, monkeypatch):
    llm = FakeLLM([])
    use_llm(llm)
    calls = []
    fake = types.ModuleType("augment.cli._rag_chat")
    fake.rag_ask = lambda llm_, question, **kw: calls.append(("ask", llm_, question, kw))
    fake.rag_chat = lambda llm_, **kw: calls.append(("chat", llm_, kw))
    monkeypatch.setitem(sys.modules, "augment.cli._rag_chat", fake)
    runner = CliRunner()
    assert runner.invoke(main, ["ask", "Q?", "--collection", "docs", "--db", "d", "--max-tokens", "9"]).exit_code == 0
    assert runner.invoke(main, ["chat", "--collection", "docs", "--chroma-url", "http://x",
                                "--reader", "model"]).exit_code == 0
    assert calls[0] == ("ask", llm, "Q?", {"collection": "docs", "db": "d", "chroma_url": None, "max_tokens": 9,
                                           "reader": "auto"})
    assert calls[1] == ("chat", llm, {"collection": "docs", "db": None, "chroma_url": "http://x", "max_tokens": 256,
                        "session": None, "reader": "model"})
    bad = runner.invoke(main, ["ask", "Q?", "--collection", "docs", "--reader", "quote"])
    assert bad.exit_code == 2 and "'quote' is not one of 'auto', 'model', 'extract'" in bad.output
    from augment.cli._common import READERS
    from augment.rag import READERS as RAG_READERS

    assert READERS == RAG_READERS  # the CLI's copy (kept so that parsing options imports no model code)
