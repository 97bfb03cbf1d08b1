"""Evaluate a tool-using agent on your own tasks: ``evaluate_agent(llm, tasks, tools)``.

``tasks`` is a JSONL file, one task a line::

    {"id": "t1", "category": "lookup", "task": "What is the boiling point of Xylene-9?",
     "expected_answer": "212", "expected_tool": "lookup"}
    {"id": "t2", "category": "no_tool", "task": "What is the capital of France?", "expected_answer": "Paris",
     "expected_tool": null}

``expected_answer``: a string (or a list of accepted strings) that must appear
in the final answer (numbers compared as numbers, so "6,912.0" solves "6912");
``expected_tool`` / ``expected_tools``: the tool(s) the task needs (null: none);
``category``: any label (success is reported per category). In a task,
``{url}`` is the address of a local web server serving ``pages`` (for
``http_get`` tasks); in an expected answer, ``{year}`` and ``{year+10}`` are
replaced by this year (and ten more).

``tools`` is a ``.py`` file whose module-level ``@tool`` functions and
``Tool`` objects are the tools, names of built-ins (``"calculator,now"``), or
a list of tools. The report holds ``valid_call_rate`` (calls that name a known
tool with arguments valid for its schema), ``task_success`` overall and
``success_by_category``, ``tool_choice_rate`` (the expected tools called; none
called when none is expected), ``steps_per_task``, ``s_per_task`` and one row
per task with its whole trace.

>>> from augment.eval.agent_eval import solved
>>> solved("The total is 6,912.", "6912"), solved("It is 6913", "6912"), solved("TURQUOISE", "turquoise")
(True, False, True)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import re
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Sequence

from augment.errors import AugmentError, ConfigError, DataError
from augment.eval.rag_eval import read_jsonl
from augment.eval.runner import EvalReport, _describe

__all__ = ["evaluate_agent", "load_agent_tasks", "load_eval_tools", "solved", "serve_pages", "score_task",
           "agent_metrics", "INVALID_CALL_ERRORS", "balanced_subset"]

#: step errors that make a call invalid (a call that validated but whose tool failed is still valid)
INVALID_CALL_ERRORS = frozenset({"unknown_tool", "invalid_arguments"})


def solved(answer: Any, expected: str | Sequence[str]) -> bool:
    """An expected answer appears in the final answer (case-insensitive; numbers compared as numbers)."""
    if answer is None:
        return False
    if not isinstance(expected, str):
        return any(solved(answer, e) for e in expected)
    text = str(answer).lower()
    try:
        target = float(expected.replace(",", ""))
    except ValueError:
        return expected.lower() in text
    numbers = re.findall(r"-?\d+(?:\.\d+)?", re.sub(r"(?<=\d),(?=\d{3})", "", text))
    return any(abs(float(n) - target) < 1e-6 * max(1.0, abs(target)) for n in numbers)


def _substitute(text: str, url: str | None) -> str:
    year = dt.datetime.now(dt.timezone.utc).year
    text = text.replace("{year+10}", str(year + 10)).replace("{year}", str(year))
    return text.replace("{url}", url) if url is not None else text


def load_agent_tasks(path: str | Path, *, url: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Read and check a tasks file (see the module docstring); ``limit`` takes a category-balanced subset."""
    tasks, seen = [], set()
    for n, obj in read_jsonl(path, "tasks"):
        where = f"{path}, line {n}"
        task = obj.get("task")
        if not isinstance(task, str) or not task.strip():
            raise DataError(f"{where}: needs a non-empty \"task\" string")
        exp = obj.get("expected_answer")
        items = exp if isinstance(exp, list) else [exp]
        if exp is None or not items or not all(isinstance(e, (str, int, float)) and not isinstance(e, bool) and str(e).strip()
                                               for e in items):
            raise DataError(f"{where}: needs an \"expected_answer\" (a string, a number or a list of them), got {exp!r}")
        tools = obj.get("expected_tools", obj.get("expected_tool"))
        tools = [] if tools is None else (tools if isinstance(tools, list) else [tools])
        if not all(isinstance(t, str) and t for t in tools):
            raise DataError(f"{where}: \"expected_tool(s)\" must be a tool name, a list of names or null, got {tools!r}")
        tid = str(obj.get("id", f"line{n}"))
        if tid in seen:
            raise DataError(f"{where}: the id {tid!r} is used twice; give each task its own id")
        seen.add(tid)
        expected = [_substitute(str(e), None) for e in items]
        tasks.append({"id": tid, "category": str(obj.get("category") or "all"), "task": _substitute(task, url),
                      "expected_answer": expected[0] if len(expected) == 1 else expected,
                      "expected_tools": tools, "line": n})
    return balanced_subset(tasks, limit)


def balanced_subset(tasks: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` tasks taken round robin over categories (so a small limit still covers them all)."""
    if limit is None or limit >= len(tasks):
        return tasks
    if limit < 1:
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        by_cat[t["category"]].append(t)
    picked: list[dict[str, Any]] = []
    while len(picked) < limit:
        for cat in list(by_cat):
            if by_cat[cat] and len(picked) < limit:
                picked.append(by_cat[cat].pop(0))
    return picked


@contextlib.contextmanager
def serve_pages(pages: dict[str, str] | str | Path) -> Iterator[str]:
    """Serve ``{name: text}`` (or a folder) on 127.0.0.1 in a thread; yields the base URL."""
    if isinstance(pages, dict):
        folder = Path(tempfile.mkdtemp(prefix="augment-eval-pages-"))
        for name, text in pages.items():
            (folder / name).write_text(text, encoding="utf-8")
    else:
        folder = Path(pages)
        if not folder.is_dir():
            raise DataError(f"pages folder {str(pages)!r} does not exist or is not a folder")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def load_eval_tools(tools: Any = None, *, local_pages: bool = False) -> Any:
    """A :class:`~augment.tools.ToolRegistry` from a ``.py`` file, built-in names, or a list of tools.

    None gives the default built-ins (calculator, python, http_get, now). With
    ``local_pages``, a built-in ``http_get`` may read 127.0.0.1 (the page server).
    """
    from augment.tools import BUILTINS, DEFAULT_BUILTINS, ToolRegistry, builtin
    from augment.tools.registry import load_tools_dir, load_tools_file

    if isinstance(tools, ToolRegistry):
        return tools
    if isinstance(tools, (str, Path)) and Path(tools).is_dir():
        return ToolRegistry(load_tools_dir(tools, strict=True))
    if isinstance(tools, Path) or (isinstance(tools, str) and tools.endswith(".py")):
        found = load_tools_file(tools, strict=True)
        if not found:
            raise DataError(f"tools file '{tools}' defines no tool; decorate functions with @tool "
                            "(from augment.tools import tool) or assign Tool objects at module level")
        return ToolRegistry(found)
    if tools is None or isinstance(tools, str):
        names = list(DEFAULT_BUILTINS) if tools is None else [n.strip() for n in tools.split(",") if n.strip()]
        unknown = [n for n in names if n not in BUILTINS]
        if unknown:
            return ToolRegistry.load(names, entry_points=True)  # plugin tools by name (or a clear error)
        local = {"allowed_hosts": ["127.0.0.1"], "allow_private": True}
        return ToolRegistry(builtin(n, **(local if n == "http_get" and local_pages else {})) for n in names)
    return ToolRegistry(tools)


def score_task(task: dict[str, Any], answer: Any, steps: Sequence[Any], seconds: float,
               complete: bool = True) -> dict[str, Any]:
    """One report row: the task, whether it was solved, its calls and trace (``steps``: AgentStep objects)."""
    calls = [s for s in steps if getattr(s, "tool", None) is not None]
    valid = [s for s in calls if s.error not in INVALID_CALL_ERRORS]
    called = {s.tool for s in valid}
    expected = set(task.get("expected_tools") or [])
    return {
        "id": task["id"], "category": task["category"], "task": task["task"],
        "expected_answer": task["expected_answer"], "expected_tools": sorted(expected),
        "answer": answer, "solved": solved(answer, task["expected_answer"]), "complete": complete,
        "steps": len(steps), "tool_calls": len(calls), "valid_calls": len(valid),
        "tool_choice_ok": expected <= called if expected else not calls,
        "seconds": round(seconds, 3),
        "trace": [s.to_dict() if hasattr(s, "to_dict") else dict(s) for s in steps],
    }


def agent_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's figures from :func:`score_task` rows."""
    n = len(rows)
    calls = sum(r["tool_calls"] for r in rows)
    valid = sum(r["valid_calls"] for r in rows)
    cats: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        cats[r["category"]].append(bool(r["solved"]))
    return {
        "valid_call_rate": round(valid / calls, 3) if calls else None,
        "task_success": round(sum(r["solved"] for r in rows) / n, 3) if n else None,
        "success_by_category": {c: round(sum(v) / len(v), 3) for c, v in sorted(cats.items())},
        "tool_choice_rate": round(sum(r["tool_choice_ok"] for r in rows) / n, 3) if n else None,
        "steps_per_task": round(sum(r["steps"] for r in rows) / n, 2) if n else None,
        "s_per_task": round(sum(r["seconds"] for r in rows) / n, 2) if n else None,
        "tool_calls": calls, "valid_calls": valid, "tasks": n,
    }


def evaluate_agent(llm: Any, tasks: str | Path | Sequence[dict[str, Any]], tools: Any = None, *, max_steps: int = 4,
                   max_tokens: int = 96, limit: int | None = None, pages: dict[str, str] | str | Path | None = None,
                   system_prompt: str | None = None, report: str | Path | None = None, progress: bool = True,
                   on_task: Any = None, max_seconds: float | None = None) -> EvalReport:
    """Run ``Agent(llm, tools)`` on every task, score it, optionally write ``report`` (JSON).

    ``llm``: any augment LLM, or a ready :class:`~augment.agent.Agent` (then ``tools``,
    ``max_steps``, ``max_tokens`` and ``system_prompt`` are its own). ``tools``: see
    :func:`load_eval_tools`. ``pages``: ``{name: text}`` or a folder served at ``{url}``
    for tasks that read web pages. ``on_task(row)`` is called after each task.

    >>> from augment.llm.fake import FakeLLM
    >>> from augment.types import ToolCall
    >>> llm = FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "17 * 23 = 391."])
    >>> rep = evaluate_agent(llm, [{"task": "What is 17 * 23?", "expected_answer": "391",
    ...                             "expected_tool": "calculator"}], "calculator", progress=False)
    >>> rep.metrics["task_success"], rep.metrics["valid_call_rate"], rep.predictions[0]["steps"]
    (1.0, 1.0, 2)
    """
    from tqdm.auto import tqdm

    from augment.agent import Agent
    from augment.llm.base import LLM

    if isinstance(tasks, (str, Path)):
        raw = load_agent_tasks(tasks)
    else:
        raw = [_check_task(t, i) for i, t in enumerate(tasks)]
    raw = balanced_subset(raw, limit)
    needs_pages = any("{url}" in t["task"] for t in raw)
    if needs_pages and pages is None:
        raise DataError("some tasks contain {url} but no pages were given; pass pages={name: text} or a folder "
                        "(CLI: --pages DIR)")
    if isinstance(llm, Agent):
        agent = llm
    elif isinstance(llm, LLM):
        agent = Agent(llm, load_eval_tools(tools, local_pages=needs_pages), max_steps=max_steps,
                      system_prompt=system_prompt, options={"max_tokens": max_tokens})
    else:
        raise ConfigError(f"evaluate_agent needs an augment LLM or an Agent, got {type(llm).__name__}")
    rows: list[dict[str, Any]] = []
    errors = 0
    start = time.perf_counter()
    with serve_pages(pages) if needs_pages and pages is not None else contextlib.nullcontext("") as url:
        for t in tqdm(raw, desc="agent eval", unit="task", disable=not progress):
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
            task = {**t, "task": _substitute(t["task"], url or None)}
            t0 = time.perf_counter()
            try:
                result = agent.run(task["task"])
                row = score_task(task, result.answer, result.steps, time.perf_counter() - t0, result.complete)
            except AugmentError as e:
                errors += 1
                row = score_task(task, None, [], time.perf_counter() - t0, False)
                row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
            if on_task is not None:
                on_task(row)
    meta = {"tools": agent.tools.names, "max_steps": agent.max_steps, "options": agent.options,
            "skipped": len(raw) - len(rows),
            "adapter": getattr(agent.llm, "active_adapter", None)}
    rep = EvalReport(agent_metrics(rows), rows, program=f"Agent({_describe(agent.llm)})",
                     seconds=time.perf_counter() - start, errors=errors, meta=meta)
    if report is not None:
        rep.save(report)
    return rep


def _check_task(t: Any, i: int) -> dict[str, Any]:
    if not isinstance(t, dict) or not isinstance(t.get("task"), str) or "expected_answer" not in t:
        raise DataError(f"task {i}: each task must be a dict with \"task\" and \"expected_answer\", got {t!r}")
    tools = t.get("expected_tools", t.get("expected_tool"))
    exp = t["expected_answer"]
    exp = [_substitute(str(e), None) for e in exp] if isinstance(exp, list) else _substitute(str(exp), None)
    return {"id": str(t.get("id", f"task{i}")), "category": str(t.get("category") or "all"), "task": t["task"],
            "expected_answer": exp, "expected_tools": [] if tools is None else (tools if isinstance(tools, list) else [tools])}
