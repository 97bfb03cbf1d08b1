"""The agent benchmark's task file and its prompt-only parsing (no model); scoring is tested in tests/eval."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from augment.eval.agent_eval import load_agent_tasks, load_eval_tools
from augment.types import Completion

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("eval_agent", ROOT / "tools" / "eval_agent.py")
eval_agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_agent)


def test_task_file_covers_every_kind_of_task():
    tasks = load_agent_tasks(ROOT / "tests/data/agent_tasks.jsonl", url="http://127.0.0.1:1")
    assert len(tasks) >= 40 and len({t["id"] for t in tasks}) == len(tasks)
    cats = Counter(t["category"] for t in tasks)
    assert set(cats) == {"calculator", "python", "now", "http_get", "extraction", "two_step", "no_tool"}
    tool_names = set(load_eval_tools(None).names)
    for t in tasks:
        assert t["expected_answer"] and "{" not in t["expected_answer"]
        assert set(t["expected_tools"]) <= tool_names
    assert all("127.0.0.1:1" in t["task"] for t in tasks if t["category"] == "http_get")
    pages = {p.name for p in eval_agent.PAGES.iterdir()}
    assert all(any(p in t["task"] for p in pages) for t in tasks if t["category"] == "http_get")


def test_limit_is_balanced_over_categories():
    tasks = load_agent_tasks(ROOT / "tests/data/agent_tasks.jsonl", url="http://x", limit=7)
    assert len({t["category"] for t in tasks}) == 7


def test_free_text_parsing_and_scoring():
    parse = eval_agent.parse_free_text
    call = parse(Completion('Sure: {"name": "calculator", "arguments": {"expression": "1+1"}}')).tool_calls[0]
    assert (call.name, call.arguments) == ("calculator", {"expression": "1+1"})
    assert parse(Completion('{"name": "calc')).tool_calls[0].name == eval_agent.UNPARSABLE
    assert parse(Completion('{"name": "final_answer", "arguments": {"answer": "Paris"}}')).text == "Paris"
    assert parse(Completion("Paris")).text == "Paris"

