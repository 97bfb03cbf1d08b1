"""Tool-use benchmark on the default model, through the library's runner ``augment.eval.evaluate_agent``.

    .venv/bin/python tools/eval_agent.py                  # the default configuration on tests/data/agent_tasks.jsonl
    .venv/bin/python tools/eval_agent.py --limit 7        # a category-balanced subset (the CPU is slow)
    .venv/bin/python tools/eval_agent.py --compare        # + without adapter, prompt-only tools, smolagents
    .venv/bin/python tools/eval_agent.py --tasks tests/data/agent_custom/tasks.jsonl --tools tests/data/agent_custom/tools.py

Rows, side by side on the same tasks, tools and local model:

* ``default``: :class:`augment.Agent` on ``load_llm()`` (with the adapter it loads by default, when
  it ships one; constrained tool calls);
* ``no_adapter`` (``--compare``): the same on ``load_llm(adapter=None)``; skipped, with the reason,
  while ``load_llm()`` loads no adapter (it would repeat the default row);
* ``prompt_only`` (``--compare``): the same agent loop and prompt, but the model writes its JSON
  freely and we parse what it wrote (tools only described in the prompt);
* ``smolagents`` (``--compare``): ``ToolCallingAgent`` with its ``TransformersModel`` over the same
  de-quantized model folder that ``load_llm()`` caches (no adapter).

Per row: the share of tool calls that parse and validate, the share of tasks solved (expected
answer in the final answer) overall and per category, steps and seconds per task. ``http_get``
tasks read pages from a local HTTP server on 127.0.0.1. The last stdout line is one JSON object:
``valid_call_rate`` and ``task_success`` of the default row, the other rows under their own keys.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from eval_common import adapter_of, cpu_model, dtype_of, load_default, load_without_adapter, pct  # noqa: E402

from augment.eval.agent_eval import (  # noqa: E402
    agent_metrics,
    evaluate_agent,
    load_agent_tasks,
    load_eval_tools,
    serve_pages,
    solved,
)
from augment.llm.base import LLM, GenerateOptions  # noqa: E402
from augment.llm.constrained import FINAL_ANSWER, add_instruction, format_instruction  # noqa: E402
from augment.types import Completion, Message, ToolCall  # noqa: E402

PAGES = ROOT / "tests/data/agent_pages"  # served on 127.0.0.1 as {url} for the http_get tasks
UNPARSABLE = "<unparsable>"
DEFAULT_TASKS = ROOT / "tests/data/agent_tasks.jsonl"


# ---- the prompt-only peer: same loop, free text parsed afterwards -------------
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


def run_row(llm: Any, label: str, args: Any) -> dict[str, Any]:
    n = [0]

    def show(row: dict[str, Any]) -> None:
        n[0] += 1
        trace = " ; ".join(_describe_step(s)[:90] for s in row["trace"])
        print(f"  [{label} {n[0]}] {row['id']}: {'OK ' if row['solved'] else 'BAD'} {row['valid_calls']}/{row['tool_calls']} "
              f"valid calls, {row['seconds']:.1f}s | {trace}", flush=True)

    rep = evaluate_agent(llm, args.tasks, args.tools, max_steps=args.max_steps, max_tokens=args.max_tokens,
                         limit=args.limit, pages=PAGES, progress=False, on_task=show,
                         max_seconds=args.max_minutes * 60 if args.max_minutes else None)
    if rep.meta["skipped"]:
        print(f"  [{label}] stopped after --max-minutes: {rep.meta['skipped']} task(s) not run", flush=True)
    if args.out:
        rep.save(Path(args.out) / f"agent_{label}.json")
    print(f"== {label}: {json.dumps(rep.metrics)}", flush=True)
    return rep.metrics


def _describe_step(s: dict[str, Any]) -> str:
    if s.get("final"):
        return f"[{s['index']}] answer: {s['text']}"
    flag = f" ({s['error']})" if s.get("error") else ""
    return f"[{s['index']}] {s['tool']}({json.dumps(s['arguments'])}) -> {s['observation']}{flag}"


# ---- smolagents ---------------------------------------------------------------
def smol_tools(tools: Any, invalid: list[int]) -> list[Any]:
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

        def forward(self: Any, _t: Any = t, **kwargs: Any) -> str:
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


def run_smolagents(folder: Path, dtype: str, args: Any) -> dict[str, Any]:
    from smolagents import ToolCallingAgent, TransformersModel
    from smolagents.utils import AgentParsingError, AgentToolCallError

    model = TransformersModel(model_id=str(folder), device_map="cpu", torch_dtype=dtype, max_new_tokens=args.max_tokens)
    invalid = [0]
    rows = []
    with serve_pages(PAGES) as url:
        tasks = load_agent_tasks(args.tasks, url=url, limit=args.limit)
        tools = load_eval_tools(args.tools, local_pages=True)
        for i, t in enumerate(tasks, 1):
            t0 = time.perf_counter()
            agent = ToolCallingAgent(tools=smol_tools(tools, invalid), model=model, max_steps=args.max_steps,
                                     verbosity_level=0)
            before = invalid[0]
            try:
                answer = agent.run(t["task"])
            except Exception as e:  # smolagents raises on some model failures
                answer = None
                print(f"    smolagents raised {type(e).__name__}: {str(e)[:120]}")
            n_calls = n_bad = 0
            called = set()
            for step in agent.memory.steps:
                names = [c.name for c in (getattr(step, "tool_calls", None) or [])]
                err = getattr(step, "error", None)
                if isinstance(err, (AgentParsingError, AgentToolCallError)):
                    n_calls, n_bad = n_calls + 1, n_bad + 1
                elif any(n != "final_answer" for n in names):
                    n_calls += 1
                    called |= {n for n in names if n != "final_answer"}
            n_bad = min(n_calls, n_bad + invalid[0] - before)
            expected = set(t["expected_tools"])
            row = {"id": t["id"], "category": t["category"], "solved": solved(answer, t["expected_answer"]),
                   "tool_calls": n_calls, "valid_calls": n_calls - n_bad, "steps": len(agent.memory.steps),
                   "tool_choice_ok": expected <= called if expected else not called,
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(f"  [smolagents {i}/{len(tasks)}] {t['id']}: {'OK ' if row['solved'] else 'BAD'} "
                  f"{row['valid_calls']}/{n_calls} valid calls, {row['seconds']:.1f}s | answer: {str(answer)[:80]!r}",
                  flush=True)
    return agent_metrics(rows)


# ---- main -----------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=Path, default=DEFAULT_TASKS)
    p.add_argument("--tools", default=None, help="a .py file of tools, or built-in names (default: calculator,python,http_get,now)")
    p.add_argument("--limit", type=int, default=None, help="run a category-balanced subset of N tasks")
    p.add_argument("--compare", action="store_true", help="add the no-adapter, prompt-only and smolagents rows")
    p.add_argument("--rows", default=None, help="with --compare, only these comparison rows (e.g. no_adapter,smolagents)")
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--max-minutes", type=float, default=None, help="per row: start no new item after this long")
    p.add_argument("--dtype", default=None, help="model dtype for load_llm (default: its choice)")
    p.add_argument("--adapter", default=None, metavar="DIR",
                   help="a LoRA folder to use as augment's adapter instead of the shipped one (a candidate)")
    p.add_argument("--model", default=None,
                   help="a load_llm spec instead of the default model (e.g. 'llamacpp': the same GGUF on llama.cpp)")
    p.add_argument("--out", default=None, help="folder for the JSON reports (one per row, with every trace)")
    args = p.parse_args(argv)

    n_tasks = len(load_agent_tasks(args.tasks, limit=args.limit))
    llm = load_default(args.dtype, args.model, args.adapter)
    print(f"{n_tasks} tasks from {args.tasks}, max_steps={args.max_steps}, max_tokens={args.max_tokens}", flush=True)
    print(f"model: {llm.model_name} ({dtype_of(llm)}), adapter: {adapter_of(llm)}; CPU: {cpu_model()}", flush=True)
    rows: dict[str, Any] = {"default": run_row(llm, "default", args)}
    wanted = set((args.rows or "no_adapter,prompt_only,smolagents").split(","))
    if args.compare and "no_adapter" in wanted:
        plain, note = load_without_adapter(llm, args.dtype)
        rows["no_adapter"] = run_row(plain, "no_adapter", args) if plain is not None else {"note": note}
    if args.compare and "prompt_only" in wanted:
        rows["prompt_only"] = run_row(PromptOnlyLLM(llm), "prompt_only", args)
    if args.compare and "smolagents" in wanted:
        try:
            from augment.llm.defaults import cached_gguf_conversion, default_gguf_path

            rows["smolagents"] = run_smolagents(cached_gguf_conversion(default_gguf_path()), dtype_of(llm), args)
            print(f"== smolagents: {json.dumps(rows['smolagents'])}", flush=True)
        except Exception as e:
            rows["smolagents"] = {"note": f"failed: {type(e).__name__}: {e}"}
            traceback.print_exc()

    print(f"\n{'row':<13}{'valid calls':>14}{'rate':>8}{'success':>10}{'steps':>7}{'s/task':>9}")
    for name, r in rows.items():
        if "note" in r:
            print(f"{name:<13}  {r['note']}")
            continue
        print(f"{name:<13}{r['valid_calls']:>8}/{r['tool_calls']:<5}{pct(r['valid_call_rate']):>8}"
              f"{pct(r['task_success']):>10}{str(r['steps_per_task']):>7}{str(r['s_per_task']):>9}")
        print(f"{'':<13}per category: " + ", ".join(f"{c} {pct(v)}" for c, v in r["success_by_category"].items()))
    default = rows.pop("default")
    final = {**default, "model": llm.model_name, "dtype": dtype_of(llm), "adapter": adapter_of(llm), "cpu": cpu_model(),
             "task_file": str(args.tasks), **rows}
    print(json.dumps(final))
    return final


if __name__ == "__main__":
    main()
