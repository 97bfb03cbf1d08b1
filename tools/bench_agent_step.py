"""Agent step, RAG turn and decode speed on both local engines, side by side in one run.

On the embedded default model (SmolLM2-135M-Instruct), four rows:

* ``raw_transformers``: ``model.generate`` on the rendered prompt (no cache kept between calls), on the
  model as transformers loads it (``packed_decode=False``, no adapter);
* ``ours_transformers``: ``TransformersLLM`` with prefix KV-cache reuse and, in bfloat16, decode on the
  shipped 4-bit weights (:mod:`augment.llm.packed`) (the default);
* ``raw_llamacpp``: ``llama_cpp.Llama.create_completion`` on the same prompt tokens;
* ``ours_llamacpp``: ``LlamaCppLLM`` (grammar-constrained calls, llama.cpp's prompt-prefix reuse,
  the shipped Q4_1 weights converted to Q8_0 for llama.cpp's fast CPU kernels);
* ``raw_llamacpp_shipped_file``: ``create_completion`` on the shipped Q4_1 file as it is.

Workloads:

(a) an agent run of 4 steps: 4 tool schemas, a 2-turn history, each step a constrained
    tool call (ours, with augment's adapter as ``Agent`` uses it) or the same number of free
    tokens (raw, no adapter); each step's prompt extends
    the last one by the call and its observation, as the agent loop does. p50 of a step.
(b) a RAG turn: a ~1,000-token context and a 100-token answer (one call, nothing cached).
(c) decode tokens/s and time to first token on a short prompt.

``cache_reuse_speedup``: the 4-step agent run of ours on transformers without the
prefix cache divided by with it, from a cold cache (same tokens out, asserted).
``cache_reuse_speedup_warm``: the same on new tasks of the same agent, whose system
prompt and tool schemas an earlier task left in the cache (the steady state of an
agent that serves many tasks). ``llamacpp_cache_reuse_speedup`` (and ``_warm``): the same two
ratios on llama.cpp, its prompt-prefix reuse off (``llm.prefix_cache = None``) against on. The RAG turn is the median of ``--rounds`` runs.

    nice -n 15 .venv/bin/python tools/bench_agent_step.py [--steps 4] [--rounds 3] [--threads 2]

The last stdout line is one JSON object: ``agent_step_p50_s``, ``rag_turn_s`` and ``cache_reuse_speedup``
of the default configuration (``load_llm()``: transformers with the prefix cache), the llama.cpp figures
(``llamacpp_*``), the fastest engine per job (``fastest_backend``) and each engine's ours/raw ratios
(``<engine>_over_raw``; in an agent step raw generates at each step as many free tokens as ours did
there, so that ratio includes ours' grammar, the only work raw does not do). Shared, loaded CPUs make every figure slow;
ratios measured in one run still hold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tool(name: str, desc: str, props: dict) -> dict:
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": props, "required": list(props)}}}


TOOLS = [
    tool("calculator", "Evaluate an arithmetic expression.", {"expression": {"type": "string"}}),
    tool("search", "Search the documentation.", {"query": {"type": "string"}, "k": {"type": "integer"}}),
    tool("now", "The current date and time in a time zone.", {"tz": {"type": "string"}}),
    tool("http_get", "Fetch a web page from an allowed host.", {"url": {"type": "string"}}),
]
HISTORY = [
    {"role": "system", "content": "You are a helpful agent. Use the tools when they help."},
    {"role": "user", "content": "What is 12 * 7?"},
    {"role": "assistant", "content": "12 * 7 = 84."},
    {"role": "user", "content": "Now add 16 to it, then tell me the time in Paris and find the docs about agents."},
]
OBSERVATIONS = ["100", "2026-12-01T06:00:00+01:00", "Agents call tools in a loop until they answer.", "ok"]
WARM_TASKS = ["Add 16 to 84, then tell me the time in Paris.", "What time is it in Tokyo? Then find the docs about tools.",
              "Multiply 7 by 6 and search the documentation for retrievers.", "Fetch https://example.org and sum 3 + 4."]
RAG_FACT = ("The lighthouse on Skerry Point was built in 1871 from granite quarried on the island; its lamp was "
            "converted to electricity in 1952 and automated in 1987, when the last keeper, Ada Flett, retired. ")


def agent_steps(llm, steps: int, question: str | None = None, made: list[int] | None = None,
                **options) -> tuple[list[float], list[list]]:
    """Run ``steps`` constrained steps, each extending the conversation; return times and the calls made.

    ``question`` replaces the last user turn (another task for the same agent); ``made`` gets the
    number of tokens each step generated. Runs with augment's adapter when ``llm`` has it loaded
    (``load_llm()``'s default), as :class:`augment.Agent` does."""
    from augment.llm.defaults import use_default_adapter

    options = use_default_adapter(llm, dict(options))  # augment's tool-call adapter, as Agent uses it
    msgs, times, calls = list(HISTORY), [], []
    if question is not None:
        msgs[-1] = {"role": "user", "content": question}
    for i in range(steps):
        t = time.perf_counter()
        out = llm.complete(msgs, tools=TOOLS, max_tokens=32, **options)
        times.append(time.perf_counter() - t)
        calls.append([(c.name, c.arguments) for c in out.tool_calls] or [("answer", out.text)])
        if made is not None:
            made.append(out.usage.completion_tokens)
        text = json.dumps({"name": calls[-1][0][0], "arguments": calls[-1][0][1]})
        msgs = msgs + [{"role": "assistant", "content": text}, {"role": "user", "content": f"Observation: {OBSERVATIONS[i % 4]}"}]
    return times, calls


def reuse_off_and_warm(llm, steps: int, rounds: int) -> tuple[list[float], list, float]:
    """The agent run with ``llm``'s prefix reuse off: ``(step times, calls, warm speedup)``.

    Warm: new tasks of the same agent, with the reuse off and then on after an earlier task
    (its system prompt and tool schemas cached); the speedup is the ratio of their total times."""
    kept, llm.prefix_cache = llm.prefix_cache, None
    times, calls, warm_off, warm_on = [], None, [], []
    for _ in range(rounds):
        step_times, calls = agent_steps(llm, steps)
        times += step_times
    for question in WARM_TASKS[:rounds]:
        warm_off += agent_steps(llm, steps, question)[0]
    llm.prefix_cache = kept
    llm.clear_prefix_cache()
    agent_steps(llm, 1, "What is 2 + 2?")  # an earlier task
    for question in WARM_TASKS[:rounds]:
        warm_on += agent_steps(llm, steps, question)[0]
    return times, calls, sum(warm_off) / sum(warm_on)


def step_prompts(llm, steps: int) -> list[str]:
    """The same prompts as :func:`agent_steps` (fixed calls), for the raw engines."""
    from augment.llm.base import GenerateOptions
    from augment.llm.constrained import add_instruction, format_instruction
    from augment.types import Message

    instruction = format_instruction(GenerateOptions.build(tools=TOOLS))
    msgs, out = list(HISTORY), []
    for i in range(steps):
        conv = [Message.from_dict(m) for m in msgs]
        out.append(llm.render_prompt(add_instruction(conv, instruction), tools=TOOLS))
        msgs = msgs + [{"role": "assistant", "content": '{"name": "calculator", "arguments": {"expression": "84 + 16"}}'},
                       {"role": "user", "content": f"Observation: {OBSERVATIONS[i % 4]}"}]
    return out


def rag_messages(tokens: int, count) -> list[dict]:
    context = ""
    while count(context) < tokens:
        context += RAG_FACT
    return [{"role": "system", "content": "Answer from the context only.\n\nContext:\n" + context},
            {"role": "user", "content": "Tell the full history of the Skerry Point lighthouse in detail."}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="agent runs per row (p50 over all their steps)")
    ap.add_argument("--rag-context", type=int, default=1000)
    ap.add_argument("--rag-answer", type=int, default=100)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from augment._cpu import cpu_has_fast_bf16, cpu_model
    from augment.llm.loader import load_llm

    ours_tf = load_llm()
    model = load_llm(adapter=None, packed_decode=False, prefix_cache=False).model  # transformers as it loads it
    tok = ours_tf.tokenizer
    dtype = str(model.dtype).replace("torch.", "")
    print(f"CPU: {cpu_model()} ({'native bf16' if cpu_has_fast_bf16() else 'no native bf16'}), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; transformers dtype {dtype}, torch threads {args.threads}, "
          f"ours decodes {ours_tf.packed_layers} layers on packed 4-bit weights; "
          f"llama.cpp: the shipped GGUF (weights converted by LlamaCppLLM, see below), {args.threads} threads", flush=True)
    results: dict[str, dict] = {}

    def raw_tf(prompt: str, new: int) -> float:
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(**enc, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                           pad_token_id=tok.pad_token_id)
        return time.perf_counter() - t

    # ---- (a) agent steps -------------------------------------------------------------------------
    prompts = step_prompts(ours_tf, args.steps)
    agent_steps(ours_tf, args.steps, "Warm up: what is 1 + 1?")  # one-time costs (grammar compilation, lazy imports) untimed
    ours_tf.prefix_cache.clear()
    tf_times, tf_calls, tf_made = [], None, []
    for _ in range(args.rounds):
        ours_tf.clear_prefix_cache()
        times, tf_calls = agent_steps(ours_tf, args.steps, made=tf_made if not tf_made else None)
        tf_times += times
    nocache_times, nocache_calls, warm_speedup = reuse_off_and_warm(ours_tf, args.steps, args.rounds)
    assert nocache_calls == tf_calls, "the prefix cache changed the output"
    # raw: at each step as many free tokens as ours generated there (the same work, no grammar)
    raw_tf_times = [raw_tf(p, n) for _ in range(args.rounds) for p, n in zip(prompts, tf_made)]
    speedup = sum(nocache_times) / sum(tf_times)
    results["raw_transformers"] = {"agent_step_p50_s": statistics.median(raw_tf_times)}
    results["ours_transformers"] = {"agent_step_p50_s": statistics.median(tf_times),
                                    "agent_step_p50_no_cache_s": statistics.median(nocache_times)}
    print(f"agent step p50: raw transformers {statistics.median(raw_tf_times):.3f} s ({'/'.join(map(str, tf_made))} free tokens, as many as ours "
          f"made, no cache) | "
          f"ours {statistics.median(tf_times):.3f} s with prefix cache, {statistics.median(nocache_times):.3f} s without "
          f"-> cache speedup on the {args.steps}-step run x{speedup:.2f} from a cold cache, x{warm_speedup:.2f} "
          f"on new tasks of the same agent (system prompt and tools cached)", flush=True)

    # ---- (b) RAG turn, (c) decode ---------------------------------------------------------------
    rag = rag_messages(args.rag_context, ours_tf.count_tokens)
    rag_prompt = ours_tf.render_prompt(rag)
    n_ctx = ours_tf.count_tokens(rag_prompt)
    ours_rag, raw_rag_tf = [], []
    for _ in range(args.rounds):  # median of rounds: a shared CPU makes single runs vary by 20% here
        ours_tf.clear_prefix_cache()
        t = time.perf_counter()
        ours_tf.complete(rag, max_tokens=args.rag_answer)
        ours_rag.append(time.perf_counter() - t)
        raw_rag_tf.append(raw_tf(rag_prompt, args.rag_answer))
    results["ours_transformers"]["rag_turn_s"] = statistics.median(ours_rag)
    results["raw_transformers"]["rag_turn_s"] = statistics.median(raw_rag_tf)
    ours_tf.clear_prefix_cache()

    def decode_tf() -> tuple[float, float]:
        t0, first = time.perf_counter(), None
        n = 0
        for item in ours_tf.stream("Write a long story about a lighthouse.", max_tokens=args.decode):
            if isinstance(item, str):
                first = first or time.perf_counter() - t0
            else:
                n = item.usage.completion_tokens
        return first, n / (time.perf_counter() - t0 - first)

    results["ours_transformers"]["ttft_s"], results["ours_transformers"]["decode_tok_s"] = decode_tf()
    print(f"RAG turn ({n_ctx} prompt tokens, {args.rag_answer} new): raw transformers "
          f"{results['raw_transformers']['rag_turn_s']:.2f} s | ours {results['ours_transformers']['rag_turn_s']:.2f} s; "
          f"decode {results['ours_transformers']['decode_tok_s']:.1f} tok/s", flush=True)

    # ---- llama.cpp rows -------------------------------------------------------------------------
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama-cpp-python is not installed (pip install 'augment[llamacpp]'): llama.cpp rows skipped", flush=True)
    else:
        from augment.llm.llamacpp import gguf_file_type

        ours_lc = load_llm("llamacpp", n_ctx=4096, n_threads=args.threads)
        raw = ours_lc._llama  # the same Llama object, driven directly
        lc_times, lc_made = [], []
        agent_steps(ours_lc, 1, "Warm up: what is 1 + 1?")  # one-time costs (grammar compilation) untimed
        for _ in range(args.rounds):
            ours_lc.clear_prefix_cache()
            times, lc_calls = agent_steps(ours_lc, args.steps, made=lc_made if not lc_made else None)
            lc_times += times
        # llama.cpp's prompt-prefix reuse: the same runs with it off (cold), and new tasks of the same agent (warm)
        lc_nocache, lc_nocache_calls, lc_warm_speedup = reuse_off_and_warm(ours_lc, args.steps, args.rounds)
        assert lc_nocache_calls == lc_calls, "llama.cpp's prefix reuse changed the output"
        lc_speedup = sum(lc_nocache) / sum(lc_times)

        def raw_lc(prompt: str, new: int, engine=raw) -> float:
            ids = engine.tokenize(prompt.encode(), add_bos=False, special=True)
            t0 = time.perf_counter()
            engine.create_completion(ids, max_tokens=new, temperature=0.0, logit_bias={engine.token_eos(): -1e9})
            return time.perf_counter() - t0

        raw_lc_times = []
        for _ in range(args.rounds):
            raw.reset()
            raw_lc_times += [raw_lc(p, n) for p, n in zip(prompts, lc_made)]
        raw_rags, ours_rags = [], []
        for _ in range(args.rounds):
            raw.reset()
            raw_rags.append(raw_lc(rag_prompt, args.rag_answer))
            raw.reset()
            t = time.perf_counter()
            ours_lc.complete(rag, max_tokens=args.rag_answer)
            ours_rags.append(time.perf_counter() - t)
        raw_rag, ours_rag = statistics.median(raw_rags), statistics.median(ours_rags)
        t0, first, n = time.perf_counter(), None, 0
        for item in ours_lc.stream("Write a long story about a lighthouse.", max_tokens=args.decode):
            if isinstance(item, str):
                first = first or time.perf_counter() - t0
            else:
                n = item.usage.completion_tokens
        results["raw_llamacpp"] = {"agent_step_p50_s": statistics.median(raw_lc_times), "rag_turn_s": raw_rag}
        results["ours_llamacpp"] = {"agent_step_p50_s": statistics.median(lc_times), "rag_turn_s": ours_rag,
                                    "ttft_s": first, "decode_tok_s": n / (time.perf_counter() - t0 - first),
                                    "agent_step_p50_no_cache_s": statistics.median(lc_nocache)}
        # the shipped file as it is (Q4_1), without ours' conversion to the CPU's fast weight type
        shipped = llama_cpp.Llama(str(ours_lc.model_path), n_ctx=4096, n_threads=args.threads,
                                  n_threads_batch=args.threads, verbose=False)
        shipped_steps, shipped_rags = [], []
        for _ in range(args.rounds):
            shipped.reset()
            shipped_steps += [raw_lc(p, n, shipped) for p, n in zip(prompts, lc_made)]
            shipped.reset()
            shipped_rags.append(raw_lc(rag_prompt, args.rag_answer, shipped))
        shipped.close()
        results["raw_llamacpp_shipped_file"] = {"agent_step_p50_s": statistics.median(shipped_steps),
                                                "rag_turn_s": statistics.median(shipped_rags)}
        print(f"llama.cpp weights: ours runs {gguf_file_type(ours_lc.weights_path)} converted from the shipped "
              f"{gguf_file_type(ours_lc.model_path)}; raw on the shipped file: agent step p50 "
              f"{statistics.median(shipped_steps):.3f} s, RAG turn {statistics.median(shipped_rags):.2f} s", flush=True)
        print(f"llama.cpp: agent step p50 raw {statistics.median(raw_lc_times):.3f} s ({'/'.join(map(str, lc_made))} "
              f"free tokens, as many as ours made) | ours "
              f"{statistics.median(lc_times):.3f} s; RAG turn raw {raw_rag:.2f} s | ours {ours_rag:.2f} s; decode "
              f"{results['ours_llamacpp']['decode_tok_s']:.1f} tok/s; prefix reuse: step p50 "
              f"{statistics.median(lc_nocache):.3f} s without it -> x{lc_speedup:.2f} on the {args.steps}-step run "
              f"from a cold cache, x{lc_warm_speedup:.2f} on new tasks of the same agent", flush=True)

    print(f"{'row':20s} {'agent step p50 s':>17s} {'RAG turn s':>11s} {'TTFT s':>8s} {'decode tok/s':>13s}")
    for row, r in results.items():
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else "-" for k in ("agent_step_p50_s", "rag_turn_s", "ttft_s", "decode_tok_s")]
        print(f"{row:20s} {cells[0]:>17s} {cells[1]:>11s} {cells[2]:>8s} {cells[3]:>13s}")
    # the headline keys are load_llm()'s default configuration (transformers with the prefix cache);
    # the llama.cpp figures and the fastest engine per job come next to them
    ours = {k.removeprefix("ours_"): r for k, r in results.items() if k.startswith("ours_")}
    fastest = {job: min(ours, key=lambda b: ours[b][job]) for job in ("agent_step_p50_s", "rag_turn_s")}
    fastest["decode_tok_s"] = max(ours, key=lambda b: ours[b]["decode_tok_s"])
    over_raw = {f"{b}_over_raw": {job: round(ours[b][job] / results[f"raw_{b}"][job], 3)
                                  for job in ("agent_step_p50_s", "rag_turn_s")} for b in ours}
    print(json.dumps({
        "agent_step_p50_s": round(results["ours_transformers"]["agent_step_p50_s"], 3),
        "rag_turn_s": round(results["ours_transformers"]["rag_turn_s"], 3),
        "cache_reuse_speedup": round(speedup, 2),
        "cache_reuse_speedup_warm": round(warm_speedup, 2),
        "default_backend": "transformers",
        "llamacpp_agent_step_p50_s": round(ours["llamacpp"]["agent_step_p50_s"], 3) if "llamacpp" in ours else None,
        "llamacpp_rag_turn_s": round(ours["llamacpp"]["rag_turn_s"], 3) if "llamacpp" in ours else None,
        "llamacpp_weights": gguf_file_type(ours_lc.weights_path) if "llamacpp" in ours else None,
        "llamacpp_cache_reuse_speedup": round(lc_speedup, 2) if "llamacpp" in ours else None,
        "llamacpp_cache_reuse_speedup_warm": round(lc_warm_speedup, 2) if "llamacpp" in ours else None,
        "fastest_backend": fastest,
        **over_raw,
        "rows": {k: {m: round(v, 4) for m, v in r.items() if isinstance(v, float)} for k, r in results.items()},
        "cpu": cpu_model(), "cpu_native_bf16": cpu_has_fast_bf16(), "transformers_dtype": dtype,
        "transformers_packed_layers": ours_tf.packed_layers,
        "threads": args.threads, "load_average": round(os.getloadavg()[0], 1), "steps": args.steps,
        "rag_prompt_tokens": n_ctx,
    }))


if __name__ == "__main__":
    main()
