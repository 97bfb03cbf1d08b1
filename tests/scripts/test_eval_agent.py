"""The agent benchmark's task file and its parsing/scoring helpers (no model)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from augment.types import Completion

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("eval_agent", ROOT / "tools" / "eval_agent.py")
eval_agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_agent)


def test_task_file_covers_every_kind_of_task():
    tasks = eval_agent.load_tasks(ROOT / "tests/data/agent_tasks.jsonl", None, "http://127.0.0.1:1")
    assert len(tasks) >= 40 and len({t["id"] for t in tasks}) == len(tasks)
    cats = Counter(t["category"] for t in tasks)
    assert set(cats) == {"calculator", "python", "now", "http_get", "extraction", "two_step", "no_tool"}
    tool_names = {t.name for t in eval_agent.make_tools()}
    for t in tasks:
        assert t["expected_answer"] and "{" not in t["expected_answer"]
        assert t["expected_tool"] is None or t["expected_tool"] in tool_names
    assert all("127.0.0.1:1" in t["task"] for t in tasks if t["category"] == "http_get")


def test_limit_is_balanced_over_categories():
    tasks = eval_agent.load_tasks(ROOT / "tests/data/agent_tasks.jsonl", 7, "http://x")
    assert len({t["category"] for t in tasks}) == 7


def test_free_text_parsing_and_scoring():
    parse = eval_agent.parse_free_text
    call = parse(Completion('Sure: {"name": "calculator", "arguments": {"expression": "1+1"}}')).tool_calls[0]
    assert (call.name, call.arguments) == ("calculator", {"expression": "1+1"})
    assert parse(Completion('{"name": "calc')).tool_calls[0].name == eval_agent.UNPARSABLE
    assert parse(Completion('{"name": "final_answer", "arguments": {"answer": "Paris"}}')).text == "Paris"
    assert parse(Completion("Paris")).text == "Paris"
    assert eval_agent.solved("The total is 6,912.", "6912") and not eval_agent.solved("6913", "6912")
    assert eval_agent.solved("It is TURQUOISE", "turquoise") and not eval_agent.solved(None, "x")
