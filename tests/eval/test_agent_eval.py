"""The agent runner: metrics on hand-checked traces (FakeLLM), tools files, pages, bad input, one real run."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from augment.errors import ConfigError, DataError, ToolError
from augment.eval.agent_eval import evaluate_agent, load_agent_tasks, load_eval_tools, solved
from augment.llm.fake import FakeLLM
from augment.types import ToolCall

ROOT = Path(__file__).resolve().parents[2]
CUSTOM = ROOT / "tests" / "data" / "agent_custom"

TASKS = [
    {"id": "t1", "category": "arithmetic", "task": "What is 17 * 23?", "expected_answer": "391", "expected_tool": "calculator"},
    {"id": "t2", "category": "lookup", "task": "How long is Silver Creek?", "expected_answer": "27", "expected_tool": "lookup"},
    {"id": "t3", "category": "no_tool", "task": "What is the capital of France?", "expected_answer": "Paris", "expected_tool": None},
    {"id": "t4", "category": "arithmetic", "task": "What is 2 ** 10?", "expected_answer": 1024, "expected_tool": "calculator"},
]
SCRIPT = [
    ToolCall("calculator", {"expression": "17 * 23"}), "17 * 23 = 391.",  # t1: valid call, solved
    ToolCall("search", {"q": "Silver Creek"}), "I could not find it.",  # t2: unknown tool, not solved
    "The capital of France is Paris.",  # t3: no call, solved
    ToolCall("calculator", {"expr": "2 ** 10"}), "It is 1000.",  # t4: invalid arguments, wrong answer
]


def _tasks_file(tmp_path: Path, rows=TASKS) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_solved_compares_numbers_as_numbers():
    assert solved("The total is 6,912.", "6912") and solved("6912.0", "6,912") and not solved("6913", "6912")
    assert solved("It is TURQUOISE", "turquoise") and solved("x = 4", ["5", "4"]) and not solved(None, "x")
    assert not solved("1024 and more", "102")


def test_metrics_on_hand_checked_traces(tmp_path):
    out = tmp_path / "agent.json"
    seen = []
    rep = evaluate_agent(FakeLLM(SCRIPT), _tasks_file(tmp_path), CUSTOM / "tools.py", report=out, progress=False,
                         on_task=seen.append)
    m = rep.metrics
    assert (m["tool_calls"], m["valid_calls"], m["valid_call_rate"]) == (3, 1, 0.333)
    assert m["task_success"] == 0.5
    assert m["success_by_category"] == {"arithmetic": 0.5, "lookup": 0.0, "no_tool": 1.0}
    assert m["steps_per_task"] == 1.75 and m["tool_choice_rate"] == 0.5 and m["tasks"] == 4
    rows = {r["id"]: r for r in rep.predictions}
    assert rows["t1"]["trace"][0]["observation"] == "391" and rows["t1"]["solved"]
    assert rows["t2"]["trace"][0]["error"] == "unknown_tool" and not rows["t2"]["tool_choice_ok"]
    assert rows["t4"]["trace"][0]["error"] == "invalid_arguments" and rows["t4"]["expected_answer"] == "1024"
    assert [r["id"] for r in seen] == ["t1", "t2", "t3", "t4"]
    saved = json.loads(out.read_text())
    assert saved["metrics"] == m and saved["meta"]["tools"] == ["lookup", "convert_units", "calculator", "now"]


def test_time_budget_stops_starting_tasks(tmp_path):
    rep = evaluate_agent(FakeLLM([]), _tasks_file(tmp_path), "calculator", max_seconds=0.0, progress=False)
    assert rep.n == 0 and rep.meta["skipped"] == 4 and rep.metrics["task_success"] is None


def test_pages_are_served_for_url_tasks_and_year_is_substituted(tmp_path):
    year = dt.datetime.now(dt.timezone.utc).year
    rows = [{"id": "p1", "category": "http_get", "task": "Read {url}/note.txt: what is the code?",
             "expected_answer": "4217", "expected_tool": "http_get"},
            {"id": "y1", "category": "now", "task": "Which year is it?", "expected_answer": "{year}"}]

    def fetch(messages, options):
        return ToolCall("http_get", {"url": re.search(r"http://\S+\.txt", messages[-1].content).group(0)})

    def report(messages, options):
        return f"The page says: {messages[-1].content}"

    llm = FakeLLM([fetch, report, f"It is {year}."])
    rep = evaluate_agent(llm, _tasks_file(tmp_path, rows), "http_get,now", pages={"note.txt": "The code is 4217."},
                         progress=False)
    assert rep.metrics["task_success"] == 1.0 and rep.metrics["valid_call_rate"] == 1.0
    assert rep.predictions[0]["task"].startswith("Read http://127.0.0.1:")
    with pytest.raises(DataError, match="contain {url} but no pages"):
        evaluate_agent(FakeLLM([]), _tasks_file(tmp_path, rows), "http_get", progress=False)


def test_the_custom_set_matches_its_tools():
    tasks = load_agent_tasks(CUSTOM / "tasks.jsonl")
    tools = load_eval_tools(CUSTOM / "tools.py")
    assert len(tasks) >= 15 and len({t["category"] for t in tasks}) == 5
    assert all(set(t["expected_tools"]) <= set(tools.names) for t in tasks)
    # the tools give the expected answers (the tasks are solvable)
    assert solved(tools.call("convert_units", {"value": 5, "from_unit": "km", "to_unit": "miles"}), "3.11")
    assert solved(tools.call("convert_units", {"value": 30, "from_unit": "Celsius", "to_unit": "F"}), "86")
    assert solved(tools.call("lookup", {"query": "architect of Millbrook city hall"}), "Ines Varga")
    assert "No fact matches" in tools.call("lookup", {"query": "zebra"})
    # a category-balanced subset
    assert len({t["category"] for t in load_agent_tasks(CUSTOM / "tasks.jsonl", limit=5)}) == 5


@pytest.mark.parametrize("line, message", [
    ('{"task": "What is 1+1?", "expected_answer": "2"', "line 2: not valid JSON"),
    ('{"expected_answer": "2"}', "line 2: needs a non-empty \"task\""),
    ('{"task": "What is 1+1?"}', "line 2: needs an \"expected_answer\""),
    ('{"task": "What is 1+1?", "expected_answer": "2", "expected_tool": 3}', "line 2: \"expected_tool(s)\" must be"),
    ('{"id": "t1", "task": "Again", "expected_answer": "2"}', "line 2: the id 't1' is used twice"),
])
def test_bad_task_lines_name_the_file_and_line(tmp_path, line, message):
    path = _tasks_file(tmp_path, TASKS[:1])
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DataError) as e:
        evaluate_agent(FakeLLM([]), path, "calculator", progress=False)
    assert message in str(e.value) and str(path) in str(e.value)


def test_bad_tools_and_arguments(tmp_path):
    tasks = _tasks_file(tmp_path)
    broken = tmp_path / "broken.py"
    broken.write_text("from augment.tools import tool\n\n\ndef f(:\n    pass\n")
    with pytest.raises(ToolError, match=r"broken.py' failed to load \(at line 4\)"):
        evaluate_agent(FakeLLM([]), tasks, broken, progress=False)
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(DataError, match="defines no tool"):
        evaluate_agent(FakeLLM([]), tasks, empty, progress=False)
    with pytest.raises(ToolError, match="does not exist"):
        evaluate_agent(FakeLLM([]), tasks, tmp_path / "missing.py", progress=False)
    with pytest.raises(ToolError, match="unknown tool 'abacus'"):
        evaluate_agent(FakeLLM([]), tasks, "calculator,abacus", progress=False)
    with pytest.raises(DataError, match="does not exist"):
        evaluate_agent(FakeLLM([]), tmp_path / "nope.jsonl", progress=False)
    with pytest.raises(ConfigError, match="needs an augment LLM or an Agent"):
        evaluate_agent("gpt", tasks, progress=False)


@pytest.mark.real_model
def test_real_default_model_on_the_custom_set(default_llm):
    rep = evaluate_agent(default_llm, CUSTOM / "tasks.jsonl", CUSTOM / "tools.py", limit=2, max_steps=2,
                         max_tokens=32, progress=False)
    assert rep.n == 2 and rep.errors == 0 and rep.metrics["tasks"] == 2
    assert {r["category"] for r in rep.predictions} == {"arithmetic", "lookup"}
    # local models call tools through constrained decoding: every call parses and validates
    assert rep.metrics["valid_call_rate"] in (None, 1.0)
    for row in rep.predictions:
        assert 1 <= row["steps"] <= 2 and row["seconds"] > 0 and len(row["trace"]) == row["steps"]
