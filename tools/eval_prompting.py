"""Prompting benchmark on the default model: zero/one/few-shot, CoT and self-consistency side by side.

Two tasks assembled in tests/data/prompting/ (60 test items each, a 20-item
few-shot pool): sentiment classification and short arithmetic word problems.

Methods (same items, same model, greedy unless said):
  zero_shot         the task template alone
  one_shot          + 1 fixed example (chat turns)
  fewshot_random    + 4 examples drawn with a seeded RandomSelector
  fewshot_semantic  + 4 most similar examples (SemanticSelector over all-MiniLM-L6-v2)
  cot               zero-shot chain-of-thought (trigger + answer-extraction call) for sentiment;
                    few-shot chain-of-thought (2 worked rationales, one call) for arithmetic
  sc5               self-consistency over the same CoT: 5 paths sampled in ONE batched call, majority vote

The direct methods are run in padded batches of --batch items; CoT and SC run
one item at a time, and sc5_time_ratio = (total SC n=5 time) / (total CoT time).

    .venv/bin/python tools/eval_prompting.py --limit 20 --cot-limit 6

Last stdout line: one JSON object with every accuracy (<task>_<method>) and "sc5_time_ratio".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augment.prompts import (  # noqa: E402
    ChainOfThought,
    FewShot,
    LabelParser,
    NumberParser,
    PromptTemplate,
    SelfConsistency,
)

DATA = ROOT / "tests" / "data" / "prompting"
METHODS = ["zero_shot", "one_shot", "fewshot_random", "fewshot_semantic", "cot", "sc5"]

TASKS = {
    "sentiment": {
        "file": "sentiment.jsonl",
        "template": PromptTemplate([
            ("system", "You classify the sentiment of reviews. Answer with one word: positive or negative."),
            ("user", "Review: {text}\nSentiment:"),
        ]),
        "output": "{label}",
        "target": "label",
        "parser": LabelParser(["positive", "negative"]),
        "direct_tokens": 4,
        "cot_tokens": 32,
        "cot": "zero-shot",
    },
    "arithmetic": {
        "file": "arithmetic.jsonl",
        "template": PromptTemplate([
            ("system", "You solve short math word problems. Give the final number."),
            ("user", "Question: {question}\nAnswer:"),
        ]),
        "output": "{answer}",
        "target": "answer",
        "parser": NumberParser(),
        "direct_tokens": 8,
        "cot_tokens": 48,
        "cot": "few-shot",
    },
}


def load(task: dict, limit: int | None) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (DATA / task["file"]).read_text(encoding="utf-8").splitlines() if line.strip()]
    pool = [r for r in rows if r["split"] == "pool"]
    test = [r for r in rows if r["split"] == "test"]
    return pool, test[:limit] if limit else test


def correct(value, reference) -> bool:
    if value is None:
        return False
    if isinstance(reference, (int, float)):
        return float(value) == float(reference)
    return str(value).strip().lower() == str(reference).strip().lower()


def run_direct(llm, prompt, task, test, batch: int) -> tuple[float, float]:
    variables = [{v: item[v] for v in prompt.input_variables} for item in test]
    convs = [prompt.render(**v) for v in variables]
    t0 = time.perf_counter()
    outs = []
    for i in range(0, len(convs), batch):
        outs += llm.batch(convs[i:i + batch], max_tokens=task["direct_tokens"], temperature=0.0)
    secs = time.perf_counter() - t0
    hits = sum(correct(task["parser"].parse(o.text).value, item[task["target"]]) for o, item in zip(outs, test))
    return hits / len(test), secs


def make_cot(llm, task, pool) -> ChainOfThought:
    if task["cot"] == "few-shot":
        shots = FewShot(task["template"], pool, k=2, output="{rationale} The answer is {answer}.")
        return ChainOfThought(shots, llm, task["parser"], trigger=None, extract=False, max_tokens=task["cot_tokens"],
                              stop=["\nQuestion:"])
    return ChainOfThought(task["template"], llm, task["parser"], max_tokens=task["cot_tokens"], answer_max_tokens=6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="test items per task (default: all 60)")
    ap.add_argument("--cot-limit", type=int, default=None,
                    help="items per task for cot and sc5 (the first N of the --limit items; default: the same)")
    ap.add_argument("--tasks", default="sentiment,arithmetic")
    ap.add_argument("--batch", type=int, default=8, help="batch size of the direct methods")
    ap.add_argument("--k", type=int, default=4, help="examples of the few-shot methods")
    args = ap.parse_args()

    from augment.llm.loader import load_llm
    from augment.retrieval.embeddings import Embedder

    t0 = time.perf_counter()
    llm = load_llm()
    embedder = Embedder()
    print(f"model {llm.model_name} loaded in {time.perf_counter() - t0:.1f}s; embedder {embedder.model_id}", flush=True)
    results: dict[str, float] = {}
    cot_time = sc_time = 0.0
    for name in args.tasks.split(","):
        task = TASKS[name]
        pool, test = load(task, args.limit)
        print(f"\n== {name}: {len(test)} test items, pool of {len(pool)} ==", flush=True)
        prompts = {
            "zero_shot": FewShot(task["template"], pool, k=0, output=task["output"]),
            "one_shot": FewShot(task["template"], pool, k=1, output=task["output"]),
            "fewshot_random": FewShot(task["template"], pool, k=args.k, selector="random", seed=0, output=task["output"]),
            "fewshot_semantic": FewShot(task["template"], pool, k=args.k, selector="semantic", embed=embedder,
                                        output=task["output"]),
        }
        for method, prompt in prompts.items():
            acc, secs = run_direct(llm, prompt, task, test, args.batch)
            results[f"{name}_{method}"] = acc
            print(f"  {method:<17} accuracy {acc:.3f}   ({secs:.1f}s)", flush=True)
        cot = make_cot(llm, task, pool)
        sc = SelfConsistency(cot, n=5, temperature=0.7, seed=0)
        cot_items = test[: args.cot_limit] if args.cot_limit else test
        hits_cot = hits_sc = 0
        t_cot = t_sc = 0.0
        from tqdm.auto import tqdm

        for item in tqdm(cot_items, desc=f"{name} cot+sc5", unit="item", file=sys.stderr):
            v = {x: item[x] for x in cot.input_variables}
            t = time.perf_counter()
            r = cot(**v)
            t_cot += time.perf_counter() - t
            hits_cot += correct(r.answer, item[task["target"]])
            t = time.perf_counter()
            s = sc(**v)
            t_sc += time.perf_counter() - t
            hits_sc += correct(s.answer, item[task["target"]])
        results[f"{name}_cot"] = hits_cot / len(cot_items)
        results[f"{name}_sc5"] = hits_sc / len(cot_items)
        cot_time += t_cot
        sc_time += t_sc
        m = len(cot_items)
        print(f"  {'cot (' + task['cot'] + ')':<17} accuracy {hits_cot / m:.3f}   ({t_cot:.1f}s, {t_cot / m:.2f}s/item, "
              f"{m} items)", flush=True)
        print(f"  {'sc5':<17} accuracy {hits_sc / m:.3f}   ({t_sc:.1f}s, {t_sc / m:.2f}s/item, "
              f"{t_sc / t_cot:.2f}x one CoT sample)", flush=True)

    ratio = sc_time / cot_time if cot_time else float("nan")
    names = args.tasks.split(",")
    print("\naccuracy       " + "".join(f"{m:>18}" for m in METHODS))
    for name in names:
        print(f"{name:<15}" + "".join(f"{results[f'{name}_{m}']:>18.3f}" for m in METHODS))
    print(f"\nself-consistency n=5 time / one CoT sample: {ratio:.2f}x (target <= 2.5x)")
    out = {k: round(v, 4) for k, v in results.items()}
    n_items = len(load(TASKS[names[0]], args.limit)[1])
    out.update(sc5_time_ratio=round(ratio, 3), items_per_task=n_items, cot_items_per_task=min(n_items, args.cot_limit or n_items),
               model=llm.model_name, threads=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
