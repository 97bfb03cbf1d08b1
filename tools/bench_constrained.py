"""Which grammar engine for constrained decoding? Compile time and masking cost per token, side by side.

    .venv/bin/python tools/bench_constrained.py

On the default model's tokenizer and the tool-call schema of the built-in tools
(calculator, python, http_get, now + final answer), for each engine as wrapped by
outlines 1.x (outlines-core, xgrammar, llguidance) and for augment's own
xgrammar processor: time to build the logits processor (grammar compile), time
per token to compute and apply the mask while a valid tool call is fed token by
token, and that cost relative to one forward pass of the model. The last line
is one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CALL = '{"name": "calculator", "arguments": {"expression": "(17 * 23) + sqrt(16) - 4 / 2 + factorial(5)"}}'


def feed(processor, ids, vocab, prompt_len=4):
    """Feed ``ids`` through ``processor`` as HF generate would; return seconds per token."""
    import torch

    seq = torch.zeros((1, prompt_len), dtype=torch.long)
    start = time.perf_counter()
    for tok in ids:
        scores = torch.zeros((1, vocab))
        out = processor(seq, scores)
        if not torch.isfinite(out[0, tok]):
            raise RuntimeError(f"the engine masked a token of a valid call: {tok}")
        seq = torch.cat([seq, torch.tensor([[tok]])], dim=1)
    return (time.perf_counter() - start) / len(ids)


def main() -> dict:
    import torch

    from augment.llm import constrained as C
    from augment.llm.loader import load_llm
    from augment.tools import builtin_tools

    torch.set_num_threads(1)
    llm = load_llm(dtype="float32")
    specs = [t.spec() for t in builtin_tools()]
    schema = C.tool_call_schema(specs)
    ids = llm.tokenizer(CALL, add_special_tokens=False)["input_ids"]
    vocab = llm.model.config.vocab_size
    # one forward pass of the model, for scale
    prompt = llm.tokenizer("Hello " * 200, return_tensors="pt")
    with torch.inference_mode():
        out = llm.model(**prompt, use_cache=True)
        past, nxt = out.past_key_values, prompt["input_ids"][:, -1:]
        t0 = time.perf_counter()
        for _ in range(10):
            out = llm.model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
        forward = (time.perf_counter() - t0) / 10
    print(f"model forward (1 token, 200-token context, fp32, 1 thread): {forward * 1000:.1f} ms")
    print(f"valid call of {len(ids)} tokens; schema of {len(specs)} tools + final answer\n")
    rows = {}

    import outlines
    from outlines.backends import get_json_schema_logits_processor

    omodel = outlines.from_transformers(llm.model, llm.tokenizer)
    engines = [(f"outlines:{b}", lambda b=b: get_json_schema_logits_processor(b, omodel, json.dumps(schema)))
               for b in ("outlines_core", "xgrammar", "llguidance")]
    engine = C._engine(llm)
    engines.append(("augment (xgrammar)", lambda: C.GrammarLogitsProcessor(engine, engine.compile(schema), 1, 1000, llm._eos_ids)))
    for name, build in engines:
        try:
            t0 = time.perf_counter()
            proc = build()
            compile_s = time.perf_counter() - t0
            per_token = feed(proc, ids, vocab)
        except Exception as e:  # an engine that fails is reported, not fatal
            print(f"{name:<22} failed: {type(e).__name__}: {str(e)[:160]}")
            rows[name] = None
            continue
        rows[name] = {"compile_ms": round(compile_s * 1000, 1), "mask_ms_per_token": round(per_token * 1000, 3),
                      "overhead_vs_forward": round(per_token / forward, 3)}
        print(f"{name:<22} compile {compile_s * 1000:8.1f} ms   mask {per_token * 1000:7.3f} ms/token   "
              f"= {100 * per_token / forward:5.1f}% of a forward pass")
    result = {"forward_ms": round(forward * 1000, 2), "engines": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
