"""Benchmark: what `augment serve` + OpenAICompatibleLLM and ChatAugment cost on top of the model.

Side by side in one run, on the embedded default model (greedy, same prompts, same max_tokens):

1. direct ``llm.complete``                       vs  the same calls over HTTP (``augment serve`` + OpenAICompatibleLLM)
2. direct ``llm.stream`` time to first token     vs  over HTTP (SSE)
3. direct ``llm.complete``                       vs  ``ChatAugment.invoke`` (LangChain wrapper)
4. LangChain's default ``BaseChatModel.batch``   vs  ``ChatAugment.batch`` (one real padded batch)

Run: ``OMP_NUM_THREADS=1 .venv/bin/python tools/bench_overhead.py [--n 4] [--max-tokens 24] [--repeat 3]``
(one thread: on a busy shared CPU, OpenMP spin-waiting otherwise slows torch down by 10x or more). The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPTS = ["What is the capital of France?", "Name three primary colours.", "What is 2 + 2?",
           "Give one tip for sleeping well.", "What do bees make?", "Name a planet.",
           "What language is spoken in Spain?", "What is ice made of?"]


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _ttft(stream_fn) -> float:
    """Seconds to the first text delta; the stream is drained so no generation runs on into the next measurement."""
    start, first = time.perf_counter(), None
    for item in stream_fn():
        if first is None and isinstance(item, str) and item:
            first = time.perf_counter() - start
    return first if first is not None else time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="number of prompts")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3, help="repeats; the best time of each is kept")
    args = ap.parse_args()

    from langchain_core.language_models import BaseChatModel

    from augment.langchain import ChatAugment
    from augment.llm.loader import load_llm
    from augment.llm.openai import OpenAICompatibleLLM
    from augment.serve import make_server

    prompts, mt = PROMPTS[: args.n], args.max_tokens
    llm = load_llm()
    llm.complete("warm up", max_tokens=4)
    server = make_server(llm, port=0).start()
    remote = OpenAICompatibleLLM(server.model_name, base_url=server.url, max_retries=0)
    chat = ChatAugment(llm=llm, max_tokens=mt, temperature=0)
    methods = {"direct": lambda p: llm.complete(p, max_tokens=mt), "http": lambda p: remote.complete(p, max_tokens=mt),
               "chat": lambda p: chat.invoke(p)}
    best = {name: [float("inf")] * len(prompts) for name in methods}
    outputs: dict[str, list] = {name: [None] * len(prompts) for name in methods}
    batch_best = {"langchain": float("inf"), "ours": float("inf")}
    try:
        # interleaved (method by method, prompt by prompt, repeat by repeat) so load changes hit all alike
        for _ in range(args.repeat):
            for i, p in enumerate(prompts):
                for name, fn in methods.items():
                    t, outputs[name][i] = _timed(lambda: fn(p), repeat=1)
                    best[name][i] = min(best[name][i], t)
            batch_best["langchain"] = min(batch_best["langchain"], _timed(
                lambda: BaseChatModel.batch(chat, prompts, config={"max_concurrency": 1}), repeat=1)[0])
            batch_best["ours"] = min(batch_best["ours"], _timed(lambda: chat.batch(prompts), repeat=1)[0])
        direct, http = outputs["direct"], outputs["http"]
        same = [a.text for a in direct] == [b.text for b in http]
        ttft_direct = min(_ttft(lambda: llm.stream(prompts[0], max_tokens=mt)) for _ in range(3))
        ttft_http = min(_ttft(lambda: remote.stream(prompts[0], max_tokens=mt)) for _ in range(3))
    finally:
        server.stop()
    t_direct, t_http, t_chat = (sum(best[n]) for n in ("direct", "http", "chat"))
    t_lc_batch, t_our_batch = batch_best["langchain"], batch_best["ours"]
    tokens = sum(c.usage.completion_tokens for c in direct)
    rows = [
        ("direct llm.complete", t_direct, 1.0),
        ("HTTP augment serve + OpenAICompatibleLLM", t_http, t_http / t_direct),
        ("ChatAugment.invoke", t_chat, t_chat / t_direct),
        ("LangChain BaseChatModel.batch (sequential invokes)", t_lc_batch, 1.0),
        ("ChatAugment.batch (one real batch)", t_our_batch, t_our_batch / t_lc_batch),
    ]
    print(f"{len(prompts)} prompts x {mt} max new tokens, {tokens} tokens generated; best of {args.repeat} interleaved runs")
    for name, t, ratio in rows:
        print(f"  {name:<52} {t:7.2f} s   x{ratio:.2f}")
    print(f"  time to first token: direct {ttft_direct * 1000:.0f} ms, over HTTP {ttft_http * 1000:.0f} ms")
    print(f"  HTTP replies identical to direct (greedy): {same}")
    print(json.dumps({
        "http_overhead": round(t_http / t_direct - 1, 4),
        "ttft_direct_s": round(ttft_direct, 4),
        "ttft_http_s": round(ttft_http, 4),
        "chat_augment_overhead": round(t_chat / t_direct - 1, 4),
        "batch_speedup_vs_langchain_default": round(t_lc_batch / t_our_batch, 3),
        "http_identical_to_direct": same,
        "decode_tok_s_direct": round(tokens / t_direct, 2),
    }))


if __name__ == "__main__":
    main()
