"""Benchmark: what MCP and tracing cost, side by side in one run.

1. the ``calculator`` tool called in-process (``Tool.call``)  vs  the same tool served by ``augment mcp``
   and called through augment's MCP client, over stdio and over streamable HTTP (127.0.0.1):
   p50/p95 per call and the overhead (MCP p50 minus in-process p50);
2. an agent run on the embedded default model (calculator task) with tracing off (the no-op API)
   vs on (the OpenTelemetry SDK writing every span as a JSON line, what ``--trace FILE`` does),
   runs interleaved off/on so load drifts hit both; plus the absolute cost of the spans of one run
   measured on a scripted FakeLLM run (no model noise).

Run: ``OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python tools/bench_mcp.py [--calls 200] [--runs 10]``.
The last stdout line is one JSON object with ``mcp_stdio_overhead_ms``, ``mcp_http_overhead_ms`` and
``tracing_overhead`` (a fraction: 0.01 is 1 %).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augment._cpu import cpu_model  # noqa: E402




def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 3), "p95_ms": round(pick(0.95) * 1000, 3)}


def time_calls(call, n: int) -> list[float]:
    for _ in range(5):  # warm up
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_mcp(n: int) -> dict:
    from augment.tools import builtin
    from augment.tools.mcp import MCPClient

    args = {"expression": "sqrt(16) * (3 + 4)"}
    local = builtin("calculator")
    results = {"in_process": percentiles(time_calls(lambda: local.call(args), n))}
    serve = [sys.executable, "-m", "augment", "mcp", "--tools", "calculator"]
    with MCPClient(serve, connect_timeout=600) as client:
        tool = client.tools()[0]
        assert tool.call(args) == local.call(args)
        results["stdio"] = percentiles(time_calls(lambda: tool.call(args), n))
    port = free_port()
    proc = subprocess.Popen(serve + ["--transport", "http", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("augment mcp --transport http did not start")
                time.sleep(0.2)
        with MCPClient(f"http://127.0.0.1:{port}/mcp", connect_timeout=600) as client:
            tool = client.tools()[0]
            results["http"] = percentiles(time_calls(lambda: tool.call(args), n))
    finally:
        proc.terminate()
        proc.wait(10)
    return results


def bench_tracing(runs: int, max_tokens: int, real: bool = True) -> dict:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from augment import Agent, FakeLLM, ToolCall, tracing
    from augment.llm.loader import load_llm
    from augment.tools import builtin

    trace_file = Path(tempfile.mkdtemp()) / "trace.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesExporter(trace_file)))
    tracers = {"off": trace.NoOpTracer(), "on": provider.get_tracer(tracing.TRACER_NAME)}

    def use(mode: str) -> None:
        tracing._state["tracer"] = tracers[mode]  # switch per run, so off/on runs can interleave in one process

    # absolute cost of the spans of one agent run, without model noise (scripted model)
    def fake_run() -> None:
        llm = FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "17 * 23 = 391."])
        Agent(llm, [builtin("calculator")]).run("What is 17 * 23?")

    per_mode: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(300):
        for mode in ("off", "on"):
            use(mode)
            start = time.perf_counter()
            fake_run()
            per_mode[mode].append(time.perf_counter() - start)
    span_cost = statistics.median(per_mode["on"]) - statistics.median(per_mode["off"])
    fake = {"span_cost_per_run_ms": round(span_cost * 1000, 3),
            "fake_run_off_ms": round(statistics.median(per_mode["off"]) * 1000, 3)}
    if not real:  # --no-agent: the span cost alone (no model run to compare it with)
        return {"model": "FakeLLM", "dtype": "n/a", "agent_steps": 2, "tracing_overhead_measured": None, **fake}

    llm = load_llm()
    model = getattr(llm, "model", None)
    dtype = str(getattr(model, "dtype", "n/a"))
    agent = Agent(llm, [builtin("calculator")], max_steps=3, options={"max_tokens": max_tokens})
    task = "What is 17 * 23?"
    use("off")
    agent.run(task)  # warm up
    real: dict[str, list[float]] = {"off": [], "on": []}
    ratios = []
    steps = None
    for i in range(runs):
        pair = {}
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            use(mode)
            start = time.perf_counter()
            result = agent.run(task)
            pair[mode] = time.perf_counter() - start
            real[mode].append(pair[mode])
            steps = len(result.steps)
        ratios.append(pair["on"] / pair["off"] - 1)
        print(f"  pair {i + 1}: off {pair['off']:.3f} s, on {pair['on']:.3f} s ({ratios[-1]:+.2%})", flush=True)
    use("off")
    provider.shutdown()
    spans = len(trace_file.read_text().splitlines())
    run_s = statistics.median(real["off"])
    return {
        "model": llm.model_name, "dtype": dtype, "agent_steps": steps, "spans_written": spans,
        "agent_run_off_s": round(run_s, 3), "agent_run_on_s": round(statistics.median(real["on"]), 3),
        # total time on / total time off over all interleaved runs: the headline (a median of a few noisy
        # pair ratios swings by several percent either way); the paired median is kept beside it
        "tracing_overhead_measured": round(sum(real["on"]) / sum(real["off"]) - 1, 4),
        "tracing_overhead_paired_median": round(statistics.median(ratios), 4),
        "span_cost_per_run_ms": round(span_cost * 1000, 3),
        "fake_run_off_ms": round(statistics.median(per_mode["off"]) * 1000, 3),
        "tracing_overhead_estimate": round(span_cost / run_s, 5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200, help="tool calls per transport")
    ap.add_argument("--runs", type=int, default=10, help="off/on pairs of real agent runs")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--no-agent", action="store_true", help="skip the real-model agent runs (span cost only)")
    args = ap.parse_args()
    import torch

    print(f"cpu: {cpu_model()}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    mcp = bench_mcp(args.calls)
    for name, row in mcp.items():
        print(f"calculator {name:>10}: p50 {row['p50_ms']:8.3f} ms   p95 {row['p95_ms']:8.3f} ms")
    tr = bench_tracing(args.runs, args.max_tokens, real=not args.no_agent)
    if args.no_agent:
        print(f"spans of one scripted agent run cost {tr['span_cost_per_run_ms']} ms (run without spans: {tr['fake_run_off_ms']} ms)")
    else:
        print(f"agent run ({tr['model']}, dtype {tr['dtype']}, {tr['agent_steps']} steps): tracing off {tr['agent_run_off_s']} s, "
              f"on {tr['agent_run_on_s']} s, overhead (total on / total off) {tr['tracing_overhead_measured']:+.2%} "
              f"(median of the pairs {tr['tracing_overhead_paired_median']:+.2%}); "
              f"spans of one run cost {tr['span_cost_per_run_ms']} ms ({tr['tracing_overhead_estimate']:.4%} of a run)")
    base = mcp["in_process"]["p50_ms"]
    out = {
        "cpu": cpu_model(), "dtype": tr["dtype"], "calls": args.calls, "agent_runs": args.runs,
        "in_process_p50_ms": base, "in_process_p95_ms": mcp["in_process"]["p95_ms"],
        "mcp_stdio_p50_ms": mcp["stdio"]["p50_ms"], "mcp_stdio_p95_ms": mcp["stdio"]["p95_ms"],
        "mcp_http_p50_ms": mcp["http"]["p50_ms"], "mcp_http_p95_ms": mcp["http"]["p95_ms"],
        "mcp_stdio_overhead_ms": round(mcp["stdio"]["p50_ms"] - base, 3),
        "mcp_stdio_overhead_p95_ms": round(mcp["stdio"]["p95_ms"] - mcp["in_process"]["p95_ms"], 3),
        "mcp_http_overhead_ms": round(mcp["http"]["p50_ms"] - base, 3),
        "mcp_http_overhead_p95_ms": round(mcp["http"]["p95_ms"] - mcp["in_process"]["p95_ms"], 3),
        "tracing_overhead": tr["tracing_overhead_measured"],
        **{k: v for k, v in tr.items() if k not in ("dtype",)},
        "tracing_target_met": None if tr["tracing_overhead_measured"] is None else tr["tracing_overhead_measured"] <= 0.03,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
