"""Benchmark: what `augment serve` + OpenAICompatibleLLM and ChatAugment cost on top of the model.

Side by side in one run, on the embedded default model (greedy, same prompts, same max_tokens):

1. direct ``llm.complete``                       vs  the same calls over HTTP (``augment serve`` + OpenAICompatibleLLM)
2. direct ``llm.stream`` time to first token     vs  over HTTP (SSE)
3. direct ``llm.complete``                       vs  ``ChatAugment.invoke`` (LangChain wrapper)
4. LangChain's default ``BaseChatModel.batch``   vs  ``ChatAugment.batch`` (one real padded batch)

Run: ``.venv/bin/python tools/bench_serve.py [--n 4] [--max-tokens 24]``. The last stdout line is one JSON object.
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


def _timed(fn, repeat: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _ttft(stream_fn) -> float:
    start = time.perf_counter()
    for item in stream_fn():
        if isinstance(item, str) and item:
            return time.perf_counter() - start
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="number of prompts")
    ap.add_argument("--max-tokens", type=int, default=24)
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
    try:
        t_direct, direct = _timed(lambda: [llm.complete(p, max_tokens=mt) for p in prompts])
        t_http, http = _timed(lambda: [remote.complete(p, max_tokens=mt) for p in prompts])
        same = [a.text for a in direct] == [b.text for b in http]
        ttft_direct = min(_ttft(lambda: llm.stream(prompts[0], max_tokens=mt)) for _ in range(3))
        ttft_http = min(_ttft(lambda: remote.stream(prompts[0], max_tokens=mt)) for _ in range(3))
        t_chat, _ = _timed(lambda: [chat.invoke(p) for p in prompts])
        t_lc_batch, _ = _timed(lambda: BaseChatModel.batch(chat, prompts, config={"max_concurrency": 1}))
        t_our_batch, _ = _timed(lambda: chat.batch(prompts))
    finally:
        server.stop()
    tokens = sum(c.usage.completion_tokens for c in direct)
    rows = [
        ("direct llm.complete", t_direct, 1.0),
        ("HTTP augment serve + OpenAICompatibleLLM", t_http, t_http / t_direct),
        ("ChatAugment.invoke", t_chat, t_chat / t_direct),
        ("LangChain BaseChatModel.batch (sequential invokes)", t_lc_batch, 1.0),
        ("ChatAugment.batch (one real batch)", t_our_batch, t_our_batch / t_lc_batch),
    ]
    print(f"{len(prompts)} prompts x {mt} max new tokens, {tokens} tokens generated; best of 2 runs")
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
