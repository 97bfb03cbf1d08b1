"""Benchmark: full fine-tuning vs LoRA vs prompt tuning vs BitFit vs bottleneck adapters.

On the default SmolLM2-135M-Instruct and tests/data/finetune/contacts.jsonl (300 messages ->
"name: ... | city: ... | phone: ...", 20% held out, seeded split), each method trains the same
number of optimizer steps in its own fresh process (so peak memory is its own), then greedy-decodes
the held-out prompts. Printed per method: trainable parameters and share, seconds per step, peak
memory, held-out exact match (and field accuracy) before and after training. Then the LoRA adapter
is reloaded through ``load_llm(base, adapter=path)`` and scored again.

Memory is the process's peak resident set size (``ru_maxrss``, Linux) - weights, gradients,
optimizer state, activations and the Python/torch runtime - plus the growth during training
(peak minus the RSS just before the first step). Timings are wall-clock on whatever CPU runs it.

    .venv/bin/python tools/bench_finetune.py --steps 10 --batch-size 2 --grad-accum 4 --limit 20 \
        --max-new-tokens 24 --parallel 4 --threads 1

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT / "tests" / "data" / "finetune" / "contacts.jsonl"
METHODS = ["full", "lora", "prompt_tuning", "bitfit", "adapter"]
LR = {"full": 3e-5, "lora": 3e-3, "prompt_tuning": 3e-2, "bitfit": 5e-3, "adapter": 1e-3}
OPTIONS = {"lora": {"r": 16, "alpha": 32}, "prompt_tuning": {"num_virtual_tokens": 16}, "adapter": {"bottleneck": 64}}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def splits(limit: int | None):
    from augment.finetune import load_data, split_data

    s = split_data(load_data(DATA), test_size=0.2, seed=0)
    return s.train, s.test[:limit] if limit else s.test


def fields(text: str) -> dict[str, str]:
    out = {}
    for part in text.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def score(predictions: list[str], references: list[str]) -> dict[str, float]:
    try:
        from augment.eval.metrics import exact_match
    except ImportError:  # the eval package is optional here
        def exact_match(p, r):
            return sum(a.strip() == b.strip() for a, b in zip(p, r)) / len(r)
    field_acc = sum(
        sum(fields(p).get(k) == v for k, v in fields(r).items()) / 3 for p, r in zip(predictions, references)
    ) / len(references)
    return {"exact_match": round(float(exact_match(predictions, references)), 4), "field_accuracy": round(field_acc, 4)}


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    import torch

    from augment.finetune import instruction_prompt

    tokenizer.padding_side = "left"
    model.eval()
    outs = []
    for i in range(0, len(prompts), batch_size):
        texts = [instruction_prompt(tokenizer, p) for p in prompts[i:i + batch_size]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        outs += [tokenizer.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True).strip() for row in ids]
    tokenizer.padding_side = "right"
    return outs


def worker(args) -> dict:
    """Runs in its own process: train one method (or none), score the held-out set."""
    import torch

    torch.set_num_threads(args.threads)
    from augment.finetune import finetune, load_model_for_task

    train, test = splits(args.limit)
    prompts, refs = [r["instruction"] for r in test], [r["output"] for r in test]
    if args.worker == "reload":
        from augment.llm.loader import load_llm

        llm = load_llm(None, adapter=args.adapter, dtype="float32")
        t = time.perf_counter()
        preds = [c.text.strip() for c in llm.batch(prompts, max_tokens=args.max_new_tokens, temperature=0)]
        return {"method": "reload", **score(preds, refs), "predictions": preds, "eval_s": time.perf_counter() - t}
    model, tokenizer = load_model_for_task(None, "instruct")
    if args.worker == "none":
        preds = generate(model, tokenizer, prompts, args.max_new_tokens)
        return {"method": "none", **score(preds, refs), "predictions": preds}
    method = args.worker
    before = rss_mb()
    res = finetune((model, tokenizer), train, task="instruct", method=method, out=args.out, test_size=0,
                   method_options=OPTIONS.get(method), lr=LR[method], max_steps=args.steps, batch_size=args.batch_size,
                   grad_accum=args.grad_accum,
                   max_length=256, progress=False, seed=0)
    peak = peak_mb()
    t = time.perf_counter()
    preds = generate(res.model, tokenizer, prompts, args.max_new_tokens)
    return {
        "method": method, "trainable": res.method.trainable, "total": res.method.total,
        "trainable_share": res.method.share, "s_per_step": round(res.train.seconds_per_step, 3),
        "peak_rss_mb": round(peak), "rss_before_train_mb": round(before), "train_growth_mb": round(peak - before),
        "loss_first": round(res.train.losses[0], 4), "loss_last": round(res.train.losses[-1], 4),
        "notes": res.method.notes, **score(preds, refs), "eval_s": round(time.perf_counter() - t, 1),
        "predictions": preds,
    }


def run_worker(name: str, args, out: Path | None = None, adapter: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--grad-accum", str(args.grad_accum),
           "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if out:
        cmd += ["--out", str(out)]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"method": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per method")
    p.add_argument("--batch-size", type=int, default=2, help="micro-batch size")
    p.add_argument("--grad-accum", type=int, default=4, help="micro-batches per optimizer step")
    p.add_argument("--limit", type=int, default=None, help="score only the first N held-out examples (of 60)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="torch threads per worker process")
    p.add_argument("--parallel", type=int, default=1,
                   help="worker processes at once (peak memory is per process either way; s/step then includes contention)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--adapter", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    train, test = splits(args.limit)
    print(f"data: {DATA.name}: {len(train)} train / {len(test)} held-out scored; {args.steps} steps x batch "
          f"{args.batch_size} x accumulation {args.grad_accum}; {args.threads} threads; model SmolLM2-135M-Instruct (float32)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_finetune_"))
    t0 = time.perf_counter()

    def one(name: str) -> dict:
        r = run_worker(name, args, out=None if name == "none" else tmp / name)
        print(f"{name}: done at {time.perf_counter() - t0:.0f}s {'ERROR ' + r['error'] if 'error' in r else ''}", flush=True)
        return r

    from concurrent.futures import ThreadPoolExecutor

    names = ["none"] + args.methods.split(",")
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        done = dict(zip(names, pool.map(one, names)))
    base = done.pop("none")
    results = done
    print(f"untrained: exact_match {base.get('exact_match')} field_accuracy {base.get('field_accuracy')}", flush=True)
    reload = run_worker("reload", args, adapter=tmp / "lora") if "lora" in results and "error" not in results["lora"] else {}

    print(f"\n{'method':<14}{'trainable':>12}{'share %':>9}{'s/step':>8}{'peak MB':>9}{'growth MB':>10}"
          f"{'EM before':>10}{'EM after':>9}{'fields after':>13}")
    for m, r in results.items():
        if "error" in r:
            print(f"{m:<14} error: {r['error']}")
            continue
        print(f"{m:<14}{r['trainable']:>12,}{100 * r['trainable_share']:>9.3f}{r['s_per_step']:>8.2f}{r['peak_rss_mb']:>9}"
              f"{r['train_growth_mb']:>10}{base.get('exact_match', 0):>10.3f}{r['exact_match']:>9.3f}{r['field_accuracy']:>13.3f}")
    full, lora = results.get("full", {}), results.get("lora", {})
    ratio = round(lora["peak_rss_mb"] / full["peak_rss_mb"], 3) if "peak_rss_mb" in full and "peak_rss_mb" in lora else None
    growth_ratio = (round(lora["train_growth_mb"] / full["train_growth_mb"], 3)
                    if "train_growth_mb" in full and "train_growth_mb" in lora and full["train_growth_mb"] else None)
    match = None
    if reload and "error" not in reload and "exact_match" in lora:
        same = sum(a == b for a, b in zip(reload["predictions"], lora["predictions"]))
        match = reload["exact_match"] == lora["exact_match"]
        print(f"\nLoRA reloaded via load_llm(adapter=...): exact_match {reload['exact_match']} vs {lora['exact_match']} "
              f"in the training process; identical predictions {same}/{len(lora['predictions'])}")
    elif reload:
        print(f"\nreload failed: {reload.get('error')}")
    print(f"LoRA peak memory / full: {ratio} (training growth ratio {growth_ratio})")
    summary = {
        "model": "SmolLM2-135M-Instruct", "data": DATA.name, "train": len(train), "heldout": len(test),
        "steps": args.steps, "batch_size": args.batch_size, "grad_accum": args.grad_accum, "threads": args.threads,
        "parallel": args.parallel, "memory": "peak RSS (ru_maxrss) per process",
        "untrained": {k: base.get(k) for k in ("exact_match", "field_accuracy")},
        "methods": {m: {"metric_before": base.get("exact_match"), "metric_after": r.get("exact_match"),
                        **{k: v for k, v in r.items() if k not in ("predictions", "notes", "method")}}
                    for m, r in results.items()},
        "lora_memory_ratio_vs_full": ratio, "lora_train_growth_ratio_vs_full": growth_ratio,
        "reload_metric": reload.get("exact_match"), "reload_metric_match": match,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
