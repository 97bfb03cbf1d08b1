"""``augment agent`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from augment.cli import main
from augment.llm.fake import FakeLLM
from augment.types import ToolCall

PLUGIN = '''
from augment.tools import tool

@tool
def greet(name: str) -> str:
    """Greet someone.

    Args:
        name: who to greet
    """
    return f"Hello, {name}!"
'''


@pytest.fixture
def fake_model(monkeypatch):
    def use(llm):
        monkeypatch.setattr("augment.cli.agent_cmd.load_llm", lambda spec=None: llm)
        return llm
    return use


def test_cli_prints_steps_and_answer(fake_model):
    fake_model(FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "17 * 23 = 391"]))
    out = CliRunner().invoke(main, ["agent", "What is 17 * 23?", "--tools", "calculator,now"])
    assert out.exit_code == 0, out.output
    assert 'step 1: calculator {"expression": "17 * 23"}' in out.output
    assert "observation: 391" in out.output and "answer: 17 * 23 = 391" in out.output


def test_cli_tools_dir_plugin_and_json(fake_model, tmp_path):
    (tmp_path / "greeting.py").write_text(PLUGIN)
    fake_model(FakeLLM([ToolCall("greet", {"name": "Ada"}), "Hello, Ada!"]))
    out = CliRunner().invoke(main, ["agent", "Greet Ada", "--tools", "greet", "--tools-dir", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    assert "observation: Hello, Ada!" in out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert data["complete"] and data["steps"][0]["tool"] == "greet"


def test_cli_max_steps_and_errors(fake_model):
    fake_model(FakeLLM([ToolCall("calculator", {"expression": "1/0"})], cycle=True))
    out = CliRunner().invoke(main, ["agent", "loop", "--tools", "calculator", "--max-steps", "2"])
    assert out.exit_code == 2 and "no answer after 2 steps" in out.output
    assert "error (tool_error)" in out.output
    out = CliRunner().invoke(main, ["agent", "x", "--tools", "teleport"])
    assert out.exit_code == 1 and "unknown tool 'teleport'" in out.output


def test_agent_engine_is_picked_by_the_cpu(monkeypatch):
    """Without --model: llama.cpp where transformers would run float32 and llama-cpp-python is installed."""
    import importlib.util

    from augment.cli.agent_cmd import agent_model_spec

    real = importlib.util.find_spec
    installed = {"llama_cpp": True}
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real("json") if installed[name] else None) if name == "llama_cpp" else real(name, *a))
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "float32")
    assert agent_model_spec(None) == "llamacpp"
    assert agent_model_spec("default") == "default" and agent_model_spec("openai:x") == "openai:x"
    assert agent_model_spec(None, guard_policy="policy.yaml") is None  # the guard reads transformers' hidden states
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "bfloat16")
    assert agent_model_spec(None) is None
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "float32")
    installed["llama_cpp"] = False
    assert agent_model_spec(None) is None


def test_cli_passes_the_picked_spec(monkeypatch):
    seen = []
    monkeypatch.setattr("augment.cli.agent_cmd.agent_model_spec", lambda model, guard=None: "picked")
    monkeypatch.setattr("augment.cli.agent_cmd.load_llm", lambda spec=None: seen.append(spec) or FakeLLM(["done"]))
    out = CliRunner().invoke(main, ["agent", "hi", "--tools", "calculator"])
    assert out.exit_code == 0, out.output
    assert seen == ["picked"]
