"""`augment eval rag` and `augment eval agent` through click's CliRunner (scripted model, real Chroma)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from augment.cli import main
from augment.llm.fake import FakeLLM
from augment.types import ToolCall

ROOT = Path(__file__).resolve().parents[2]
CUSTOM = ROOT / "tests" / "data" / "agent_custom"
RAG_SET = ROOT / "tests" / "data" / "rag_eval"


@pytest.fixture
def scripted(monkeypatch):
    """load_llm replaced by a recorder that returns a FakeLLM with the script the test sets."""
    import augment.llm.loader as loader

    state = {"calls": [], "llm": FakeLLM([])}

    def fake_load(spec=None, **kw):
        state["calls"].append({"spec": spec, **kw})
        return state["llm"]

    monkeypatch.setattr(loader, "load_llm", fake_load)
    return state


def test_eval_without_data_or_subcommand_says_what_to_do():
    r = CliRunner().invoke(main, ["eval"])
    assert r.exit_code == 2 and "augment eval rag DOCS QA.jsonl" in r.output
    helptext = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "rag" in helptext and "agent" in helptext and "--data" in helptext


def test_eval_agent_cli_writes_report_and_json_line(tmp_path, scripted):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "u1", "category": "unit_conversion", "task": "Convert 5 km to miles.",
                                 "expected_answer": "3.11", "expected_tool": "convert_units"}) + "\n")
    scripted["llm"] = FakeLLM([ToolCall("convert_units", {"value": 5, "from_unit": "km", "to_unit": "mi"}),
                               "5 km is 3.11 miles."])
    out = tmp_path / "agent.json"
    r = CliRunner().invoke(main, ["eval", "agent", str(tasks), "--tools", str(CUSTOM / "tools.py"), "--no-adapter",
                                  "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    last = json.loads(r.output.strip().splitlines()[-1])
    assert last["task_success"] == 1.0 and last["valid_call_rate"] == 1.0
    assert last["success_by_category"] == {"unit_conversion": 1.0}
    report = json.loads(out.read_text())
    assert report["predictions"][0]["trace"][0]["observation"] == "5 km = 3.11 mi"
    assert scripted["calls"] == [{"spec": None, "adapter": None}]  # --no-adapter: load_llm(adapter=None)


def test_eval_rag_cli_on_the_project_set(tmp_path, scripted):
    scripted["llm"] = FakeLLM(["The sensor array sends its readings every 16 seconds [1].", "I don't know."])
    out = tmp_path / "rag.json"
    r = CliRunner().invoke(main, ["eval", "rag", str(RAG_SET / "docs"), str(RAG_SET / "qa.jsonl"), "--k", "3",
                                  "--limit", "2", "--retriever", "bm25", "--db", str(tmp_path / "db"),
                                  "--model", "some/model", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    last = json.loads(r.output.strip().splitlines()[-1])
    assert last["span_in_answer"] == 1.0 and last["abstain_unanswerable"] == 1.0 and last["hit_at_3"] == 1.0
    assert json.loads(out.read_text())["meta"]["k"] == 3
    assert scripted["calls"] == [{"spec": "some/model"}]


def test_eval_subcommands_bad_input(tmp_path, scripted):
    runner = CliRunner()
    r = runner.invoke(main, ["eval", "rag", str(tmp_path / "nodocs"), str(RAG_SET / "qa.jsonl")])
    assert r.exit_code == 2 and "does not exist" in r.output
    bad = tmp_path / "qa.jsonl"
    bad.write_text('{"question": "How often?", "answer": "16 seconds", "source": "01_overview.md"}\n{"question": \n')
    r = runner.invoke(main, ["eval", "rag", str(RAG_SET / "docs"), str(bad), "-q"])
    assert r.exit_code == 1 and f"{bad}, line 2: not valid JSON" in r.output
    r = runner.invoke(main, ["eval", "agent", str(tmp_path / "none.jsonl")])
    assert r.exit_code == 2 and "does not exist" in r.output
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"task": "What is 1+1?", "expected_answer": "2"}\n{"task": "x"}\n')
    r = runner.invoke(main, ["eval", "agent", str(tasks), "--tools", "calculator", "-q"])
    assert r.exit_code == 1 and f"{tasks}, line 2: needs an \"expected_answer\"" in r.output
    r = runner.invoke(main, ["eval", "agent", str(tasks), "--adapter", "a", "--no-adapter"])
    assert r.exit_code == 2 and "not both" in r.output
    r = runner.invoke(main, ["eval", "--data", str(tasks), "agent", str(tasks)])
    assert r.exit_code == 2 and "takes its files as arguments" in r.output
