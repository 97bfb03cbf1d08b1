"""Tool-use benchmark: our constrained agent vs prompt-only tools vs smolagents, on the default model.

    .venv/bin/python tools/eval_agent.py                  # all tasks of tests/data/agent_tasks.jsonl
    .venv/bin/python tools/eval_agent.py --limit 7        # a category-balanced subset (the CPU is slow)

Modes, side by side on the same tasks, tools and local model:

* ``ours``: :class:`augment.Agent` on the default TransformersLLM (constrained tool calls);
* ``unconstrained``: the same agent loop and prompt, but the model writes its JSON freely
  and we parse what it wrote (tools only described in the prompt);
* ``smolagents``: ``ToolCallingAgent`` with its ``TransformersModel`` over the same
  de-quantized model folder that ``load_llm()`` caches.

Per mode: the share of tool-call steps whose call parses and validates (known
tool, arguments valid for its schema), the share of tasks solved (expected
answer in the final answer) and seconds per task. ``http_get`` tasks read
pages from a local HTTP server on 127.0.0.1 (the tool is configured to allow it).
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import re
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from augment.agent import Agent  # noqa: E402
from augment.llm.base import LLM, GenerateOptions  # noqa: E402
from augment.llm.constrained import FINAL_ANSWER, add_instruction, format_instruction  # noqa: E402
from augment.tools import Tool, builtin  # noqa: E402
from augment.types import Completion, Message, ToolCall  # noqa: E402

PAGES = {"capital.txt": "The capital of Australia is Canberra.", "answer.txt": "The secret number is 4217.",
         "color.txt": "Today's colour is turquoise."}
UNPARSABLE = "<unparsable>"
INVALID = {"unknown_tool", "invalid_arguments"}


# ---- tasks -------------------------------------------------------------------
def load_tasks(path: Path, limit: int | None, url: str) -> list[dict[str, Any]]:
    tasks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    year = dt.datetime.now(dt.timezone.utc).year
    for t in tasks:
        t["task"] = t["task"].replace("{url}", url)
        t["expected_answer"] = t["expected_answer"].replace("{year+10}", str(year + 10)).replace("{year}", str(year))
    if limit is None or limit >= len(tasks):
        return tasks
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        by_cat[t["category"]].append(t)
    picked: list[dict[str, Any]] = []
    while len(picked) < limit:  # round robin over categories, so a small limit still covers them all
        for cat in list(by_cat):
            if by_cat[cat] and len(picked) < limit:
                picked.append(by_cat[cat].pop(0))
    return picked


def solved(answer: Any, expected: str) -> bool:
    """The expected answer appears in the final answer (numbers compared as numbers)."""
    if answer is None:
        return False
    text = str(answer).lower()
    try:
        target = float(expected)
    except ValueError:
        return expected.lower() in text
    return any(abs(float(n) - target) < 1e-6 * max(1.0, abs(target)) for n in re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", "")))


def serve_pages() -> tuple[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="augment-eval-pages-"))
    for name, text in PAGES.items():
        (folder / name).write_text(text)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def make_tools() -> list[Tool]:
    return [builtin("calculator"), builtin("python"), builtin("now"),
            builtin("http_get", allowed_hosts=["127.0.0.1"], allow_private=True)]


# ---- the unconstrained peer: same loop, free text parsed afterwards -------------
class PromptOnlyLLM(LLM):
    """The same local model with the tools only described in the prompt; its JSON is parsed, not enforced."""

    def __init__(self, llm: Any):
        self.llm = llm
        self.model_name = f"{llm.model_name} (prompt-only tools)"

    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        plain = options.model_copy(update={"tools": None, "tool_choice": None})
        if options.tools:
            messages = add_instruction(messages, format_instruction(options))
        prompt = self.llm.render_prompt(messages, tools=options.tools)
        completion = self.llm._to_completion(self.llm._generate_ids([prompt], plain)[0], plain)
        return parse_free_text(completion) if options.tools else completion


def parse_free_text(c: Completion) -> Completion:
    text = c.text.strip()
    start = text.find("{")
    if start < 0:
        return c  # plain text: a final answer
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        call = ToolCall(UNPARSABLE, {"raw": text[:200]})
    elif value["name"] == FINAL_ANSWER:
        args = value.get("arguments")
        answer = args.get("answer", "") if isinstance(args, dict) else args
        return Completion(str(answer), usage=c.usage, model=c.model)
    else:
        args = value.get("arguments")
        call = ToolCall(value["name"], args if isinstance(args, dict) else {"raw": args})
    return Completion("", tool_calls=[call], finish_reason="tool_calls", usage=c.usage, model=c.model)


def run_augment_mode(llm: Any, tasks: list[dict[str, Any]], tools: list[Tool], args: Any, label: str) -> dict[str, Any]:
    agent = Agent(llm, tools, max_steps=args.max_steps, options={"max_tokens": args.max_tokens})
    calls = valid = wins = 0
    start = time.perf_counter()
    for i, t in enumerate(tasks, 1):
        t0 = time.perf_counter()
        result = agent.run(t["task"])
        steps = result.tool_calls
        ok = [s for s in steps if s.error not in INVALID]
        calls, valid = calls + len(steps), valid + len(ok)
        win = solved(result.answer, t["expected_answer"])
        wins += win
        print(f"  [{label} {i}/{len(tasks)}] {t['id']}: {'OK ' if win else 'BAD'} {len(ok)}/{len(steps)} valid calls, "
              f"{time.perf_counter() - t0:.1f}s | " + " ; ".join(s.describe()[:90] for s in result.steps), flush=True)
    return _summary(calls, valid, wins, len(tasks), time.perf_counter() - start)


def _summary(calls: int, valid: int, wins: int, n: int, seconds: float) -> dict[str, Any]:
    return {"tool_calls": calls, "valid_calls": valid, "valid_call_rate": round(valid / calls, 3) if calls else None,
            "task_success": round(wins / n, 3) if n else None, "s_per_task": round(seconds / n, 1) if n else None}


# ---- smolagents ---------------------------------------------------------------
def smol_tools(tools: list[Tool], invalid: list[int]) -> list[Any]:
    from smolagents import Tool as SmolTool

    out = []
    for t in tools:
        params = t.parameters
        required = set(params.get("required", []))
        inputs = {}
        for name, prop in params.get("properties", {}).items():
            kind = prop.get("type") or next((a.get("type") for a in prop.get("anyOf", []) if a.get("type") != "null"), "any")
            inputs[name] = {"type": kind, "description": prop.get("description", name)}
            if name not in required:
                inputs[name]["nullable"] = True

        def forward(self: Any, _t: Tool = t, **kwargs: Any) -> str:
            try:
                _t.validate(kwargs)
            except Exception:
                invalid[0] += 1
                raise
            return _t.call(kwargs)

        cls = type(f"Smol_{t.name}", (SmolTool,), {"name": t.name, "description": t.description, "inputs": inputs,
                                                   "output_type": "string", "forward": forward,
                                                   "skip_forward_signature_validation": True})
        out.append(cls())
    return out


def run_smolagents(folder: Path, dtype: str, tasks: list[dict[str, Any]], tools: list[Tool], args: Any) -> dict[str, Any]:
    from smolagents import ToolCallingAgent, TransformersModel
    from smolagents.utils import AgentParsingError, AgentToolCallError

    # same folder and dtype as our model
    model = TransformersModel(model_id=str(folder), device_map="cpu", torch_dtype=dtype, max_new_tokens=args.max_tokens)
    invalid = [0]
    calls = bad = wins = 0
    start = time.perf_counter()
    for i, t in enumerate(tasks, 1):
        t0 = time.perf_counter()
        agent = ToolCallingAgent(tools=smol_tools(tools, invalid), model=model, max_steps=args.max_steps, verbosity_level=0)
        before = invalid[0]
        try:
            answer = agent.run(t["task"])
        except Exception as e:  # smolagents raises on some model failures
            answer = None
            print(f"    smolagents raised {type(e).__name__}: {str(e)[:120]}")
        n_calls = n_bad = 0
        for step in agent.memory.steps:
            names = [c.name for c in (getattr(step, "tool_calls", None) or [])]
            err = getattr(step, "error", None)
            if isinstance(err, (AgentParsingError, AgentToolCallError)):
                n_calls, n_bad = n_calls + 1, n_bad + 1
            elif any(n != "final_answer" for n in names):
                n_calls += 1
        n_bad = min(n_calls, n_bad + invalid[0] - before)
        calls, bad = calls + n_calls, bad + n_bad
        win = solved(answer, t["expected_answer"])
        wins += win
        print(f"  [smolagents {i}/{len(tasks)}] {t['id']}: {'OK ' if win else 'BAD'} {n_calls - n_bad}/{n_calls} valid calls, "
              f"{time.perf_counter() - t0:.1f}s | answer: {str(answer)[:80]!r}", flush=True)
    return _summary(calls, calls - bad, wins, len(tasks), time.perf_counter() - start)


# ---- main -----------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=Path, default=ROOT / "tests/data/agent_tasks.jsonl")
    p.add_argument("--limit", type=int, default=None, help="run a category-balanced subset of N tasks")
    p.add_argument("--modes", default="ours,unconstrained,smolagents")
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--dtype", default=None, help="model dtype for load_llm (default: its choice, bf16 on CPUs with native bf16)")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    from augment.llm.defaults import cached_gguf_conversion, default_gguf_path
    from augment.llm.loader import load_llm

    url, server = serve_pages()
    tasks = load_tasks(args.tasks, args.limit, url)
    cats = sorted({t["category"] for t in tasks})
    print(f"{len(tasks)} tasks ({', '.join(cats)}), max_steps={args.max_steps}, max_tokens={args.max_tokens}", flush=True)
    llm = load_llm(dtype=args.dtype) if args.dtype else load_llm()
    print(f"model: {llm.model_name} ({str(llm.model.dtype).replace('torch.', '')})", flush=True)
    tools = make_tools()
    results: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    if "ours" in modes:
        results["ours"] = run_augment_mode(llm, tasks, tools, args, "ours")
        print(f"== ours: {json.dumps(results['ours'])}", flush=True)
    if "unconstrained" in modes:
        results["unconstrained"] = run_augment_mode(PromptOnlyLLM(llm), tasks, tools, args, "unconstrained")
        print(f"== unconstrained: {json.dumps(results['unconstrained'])}", flush=True)
    if "smolagents" in modes:
        try:
            results["smolagents"] = run_smolagents(cached_gguf_conversion(default_gguf_path()), str(llm.model.dtype).replace("torch.", ""),
                                                   tasks, tools, args)
            print(f"== smolagents: {json.dumps(results['smolagents'])}", flush=True)
        except Exception as e:
            reasons["smolagents"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
    server.shutdown()

    print(f"\n{'mode':<15}{'valid calls':>14}{'rate':>8}{'success':>10}{'s/task':>9}")
    for mode in ("ours", "unconstrained", "smolagents"):
        r = results.get(mode)
        if r is None:
            print(f"{mode:<15}{'n/a: ' + reasons.get(mode, 'not run (--modes)'):>41}")
            continue
        print(f"{mode:<15}{r['valid_calls']:>8}/{r['tool_calls']:<5}{_pct(r['valid_call_rate']):>8}"
              f"{_pct(r['task_success']):>10}{r['s_per_task']:>9}")
    ours, un = results.get("ours", {}), results.get("unconstrained", {})
    if ours.get("s_per_task") and un.get("s_per_task"):
        print(f"ours vs unconstrained: valid-call rate {_pct(ours['valid_call_rate'])} vs {_pct(un['valid_call_rate'])}, "
              f"time per task x{ours['s_per_task'] / un['s_per_task']:.2f}")
    smol = results.get("smolagents", {})
    final = {
        "valid_call_rate": ours.get("valid_call_rate"), "task_success": ours.get("task_success"),
        "s_per_task": ours.get("s_per_task"),
        "unconstrained_valid_call_rate": un.get("valid_call_rate"), "unconstrained_task_success": un.get("task_success"),
        "smolagents_valid_call_rate": smol.get("valid_call_rate"), "smolagents_task_success": smol.get("task_success"),
        "tasks": len(tasks),
    }
    print(json.dumps(final))
    return final


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


if __name__ == "__main__":
    main()
