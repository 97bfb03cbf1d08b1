"""Prompting benchmark on the default model: zero/one/few-shot, CoT, self-consistency, label likelihood
(with calibration) and program-aided reasoning side by side.

Three tasks: two assembled in tests/data/prompting/ (60 test items each, a 20-item few-shot pool):
sentiment classification and short arithmetic word problems; and one public set,
reviews_public (160 Amazon product-review sentences rated by people, from the VADER data shipped in
the PyPI package vaderSentiment, MIT: see tests/data/prompting/SOURCE.md).

Methods (same items, same model, greedy unless said):
  zero_shot         the task template alone, answer generated and parsed
  one_shot          + 1 fixed example (chat turns)
  fewshot_random    + 4 examples drawn with a seeded RandomSelector
  fewshot_semantic  + 4 most similar examples (SemanticSelector over all-MiniLM-L6-v2)
  cot               zero-shot chain-of-thought (trigger + answer-extraction call) for sentiment;
                    few-shot chain-of-thought (2 worked rationales, one call) for arithmetic
  sc5               self-consistency over the same CoT: 5 paths sampled in ONE batched call, majority vote
  classification tasks only (Classifier: each label scored by its log-probability, one forward pass):
  likelihood            zero-shot, the Classifier's defaults: labels scored after the prompt as a plain
                        transcript (" positive" after "Sentiment:"), contextual calibration (content-free
                        "N/A", "", "[MASK]")
  likelihood_uncal      zero-shot, plain transcript, no calibration
  likelihood_chat       zero-shot, labels scored as the assistant's reply after the chat template, no
                        calibration (the Classifier's behaviour before the defaults above)
  fewshot_balanced      4 balanced examples (2 per label, seeded order), plain transcript, no calibration
  fewshot_calibrated    4 balanced examples, the Classifier's defaults (plain transcript, calibration)
  arithmetic only (ProgramOfThought: the model writes an expression under a JSON-schema constraint,
  with augment's adapter when load_llm() loaded it; the calculator tool computes it; 4 pool examples
  show expressions):
  program           the 4 pool examples most similar to the question (SemanticSelector), one greedy
                    program per item, all items in batches of --batch
  program_random    as program, 4 examples drawn with a seeded RandomSelector (the "program" row of
                    earlier releases, which also ran on the base model: see --base-programs)
  program_numbers   as program, the expression limited to the numbers written in the question
                    (ProgramOfThought(numbers_from_inputs=True): one grammar per item)
  program_sc5       as program, 5 sampled programs per item in one batched call, majority over executed results

--arith-dev scores arithmetic on tests/data/prompting/arithmetic_dev.jsonl (40 problems from the same
generator under another seed, none shared with the pool or the test split) instead of the test split:
tune there, report the test split.

CoT and SC run one item at a time, and sc5_time_ratio = (total SC n=5 time) / (total CoT time).

    .venv/bin/python tools/eval_prompting.py --limit 20 --cot-limit 6
    .venv/bin/python tools/eval_prompting.py --methods zero_shot,likelihood,fewshot_calibrated,cot,program

Last stdout line: one JSON object with every accuracy (<task>_<method>), "sc5_time_ratio", the issue's
headline keys (sentiment_likelihood, sentiment_fewshot_calibrated, sentiment_zero_shot, math_program,
math_cot), the model, its adapter, the CPU and dtype.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from augment._cpu import cpu_model  # noqa: E402

from augment.prompts import (  # noqa: E402
    ChainOfThought,
    Classifier,
    ProgramOfThought,
    FewShot,
    LabelParser,
    NumberParser,
    PromptTemplate,
    SelfConsistency,
)

DATA = ROOT / "tests" / "data" / "prompting"
METHODS = ["zero_shot", "one_shot", "fewshot_random", "fewshot_semantic", "cot", "sc5"]
LIKELIHOOD = ["likelihood", "likelihood_uncal", "likelihood_chat", "fewshot_balanced", "fewshot_calibrated"]
PROGRAM = ["program", "program_random", "program_numbers", "program_sc5"]
SENTIMENT_TEMPLATE = PromptTemplate([
    ("system", "You classify the sentiment of reviews. Answer with one word: positive or negative."),
    ("user", "Review: {text}\nSentiment:"),
])

TASKS = {
    "sentiment": {
        "file": "sentiment.jsonl",
        "template": SENTIMENT_TEMPLATE,
        "output": "{label}",
        "target": "label",
        "parser": LabelParser(["positive", "negative"]),
        "labels": ["positive", "negative"],
        "direct_tokens": 4,
        "cot_tokens": 32,
        "cot": "zero-shot",
    },
    "reviews_public": {
        "file": "reviews_public.jsonl",
        "template": SENTIMENT_TEMPLATE,
        "output": "{label}",
        "target": "label",
        "parser": LabelParser(["positive", "negative"]),
        "labels": ["positive", "negative"],
        "direct_tokens": 4,
        "cot_tokens": 32,
        "cot": "zero-shot",
    },
    "arithmetic": {
        "file": "arithmetic.jsonl",
        "dev_file": "arithmetic_dev.jsonl",
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


def read_rows(file: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / file).read_text(encoding="utf-8").splitlines() if line.strip()]


def load(task: dict, limit: int | None, dev: bool = False) -> tuple[list[dict], list[dict]]:
    rows = read_rows(task["file"])
    pool = [r for r in rows if r["split"] == "pool"]
    test = read_rows(task["dev_file"]) if dev and "dev_file" in task else [r for r in rows if r["split"] == "test"]
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


def expression_of(rationale: str) -> str:
    """The arithmetic expression behind a worked rationale: "11 + 13 = 24, and 24 - 15 = 9." -> "11 + 13 - 15"."""
    expr, last = "", None
    for a, op, b, c in re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", rationale):
        if not expr:
            expr = f"{a} {op} {b}"
        elif a == last:
            expr = f"{expr} {op} {b}"
        else:  # the previous result is the right operand
            expr = f"{a} {op} {expr}"
        last = c
    return expr


def run_likelihood(llm, prompt, task, test, options: dict, capitalize: bool = False) -> tuple[float, float]:
    labels = {x: x.capitalize() for x in task["labels"]} if capitalize else task["labels"]
    clf = Classifier(prompt, llm, labels, **options)
    t0 = time.perf_counter()
    hits = sum(clf(**{v: item[v] for v in clf.input_variables}).label == item[task["target"]] for item in test)
    return hits / len(test), time.perf_counter() - t0


def make_program(llm, pool, numbers_from_inputs: bool = False, embed=None, **options) -> ProgramOfThought:
    """Four pool examples with their expressions: drawn at random (seeded), or the most similar (``embed``)."""
    from augment.tools.calculator import Calculator

    shots = [{**ex, "expression": expression_of(ex["rationale"])} for ex in pool]
    how = {"selector": "semantic", "embed": embed} if embed is not None else {"selector": "random", "seed": 0}
    prompt = FewShot(TASKS["arithmetic"]["template"], shots, k=4, output='{{"expression": "{expression}"}}', **how)
    return ProgramOfThought(prompt, llm, Calculator(), instruction="", max_tokens=32,
                            numbers_from_inputs=numbers_from_inputs, **options)


def run_program(pot, test, batch: int, n: int) -> tuple[float, float, int]:
    """Accuracy, seconds and how many programs failed to run (n=1: greedy in batches; n>1: vote per item)."""
    t0 = time.perf_counter()
    hits = failed = 0
    if n == 1:
        for i in range(0, len(test), batch):
            chunk = test[i:i + batch]
            for r, item in zip(pot.run_many([{"question": x["question"]} for x in chunk]), chunk):
                hits += correct(r.answer, item["answer"])
                failed += r.error is not None
    else:
        for item in test:
            v = pot.vote(n=n, temperature=0.7, seed=0, question=item["question"])
            hits += correct(v.answer, item["answer"])
            failed += sum(p.error is not None for p in v.paths)
    return hits / len(test), time.perf_counter() - t0, failed




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="test items per task (default: all)")
    ap.add_argument("--cot-limit", type=int, default=None,
                    help="items per task for cot, sc5 and program_sc5 (the first N of the --limit items; default: the same)")
    ap.add_argument("--tasks", default="sentiment,reviews_public,arithmetic")
    ap.add_argument("--methods", default=",".join(METHODS + LIKELIHOOD + PROGRAM),
                    help="methods to run (default: all); a method that does not apply to a task is skipped")
    ap.add_argument("--batch", type=int, default=8, help="batch size of the direct methods")
    ap.add_argument("--k", type=int, default=4, help="examples of the few-shot methods")
    ap.add_argument("--arith-dev", action="store_true",
                    help="score arithmetic on its development file (for tuning) instead of the test split")
    ap.add_argument("--base-programs", action="store_true",
                    help="program methods on the base model (adapter=None) instead of augment's adapter")
    ap.add_argument("--capitalize-labels", action="store_true",
                    help="likelihood methods score 'Positive'/'Negative' (the way the model starts a reply) for the labels")
    args = ap.parse_args()
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS + LIKELIHOOD + PROGRAM))
    if unknown:
        ap.error(f"unknown methods {unknown}")

    from augment.llm.loader import load_llm

    t0 = time.perf_counter()
    llm = load_llm()
    dtype = str(next(llm.model.parameters()).dtype).replace("torch.", "") if hasattr(llm, "model") else "n/a"
    adapter = getattr(llm, "active_adapter", None)
    print(f"model {llm.model_name} (adapter: {adapter or 'none'}; loaded adapters: {getattr(llm, 'adapters', [])}) "
          f"loaded in {time.perf_counter() - t0:.1f}s; dtype {dtype}; CPU {cpu_model()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    embedder = None
    if "fewshot_semantic" in methods or any(m.startswith("program") and m != "program_random" for m in methods):
        from augment.retrieval.embeddings import Embedder

        embedder = Embedder()
        print(f"embedder {embedder.model_id}", flush=True)
    results: dict[str, float] = {}
    counts: dict[str, int] = {}
    cot_time = sc_time = 0.0
    names = args.tasks.split(",")
    for name in names:
        task = TASKS[name]
        pool, test = load(task, args.limit, dev=args.arith_dev)
        counts[name] = len(test)
        print(f"\n== {name}: {len(test)} test items, pool of {len(pool)} ==", flush=True)
        prompts = {
            "zero_shot": FewShot(task["template"], pool, k=0, output=task["output"]),
            "one_shot": FewShot(task["template"], pool, k=1, output=task["output"]),
            "fewshot_random": FewShot(task["template"], pool, k=args.k, selector="random", seed=0, output=task["output"]),
        }
        if embedder is not None:
            prompts["fewshot_semantic"] = FewShot(task["template"], pool, k=args.k, selector="semantic", embed=embedder,
                                                  output=task["output"])
        for method, prompt in prompts.items():
            if method not in methods:
                continue
            acc, secs = run_direct(llm, prompt, task, test, args.batch)
            results[f"{name}_{method}"] = acc
            print(f"  {method:<19} accuracy {acc:.3f}   ({secs:.1f}s)", flush=True)
        if "labels" in task:
            balanced = FewShot(task["template"], pool, k=args.k, selector="balanced", seed=0, output=task["output"])
            uncal = {"calibrate": False}
            variants = {"likelihood": (task["template"], {}), "likelihood_uncal": (task["template"], uncal),
                        "likelihood_chat": (task["template"], {"calibrate": False, "prompt_format": "chat"}),
                        "fewshot_balanced": (balanced, uncal), "fewshot_calibrated": (balanced, {})}
            for method, (prompt, options) in variants.items():
                if method not in methods:
                    continue
                acc, secs = run_likelihood(llm, prompt, task, test, options, args.capitalize_labels)
                results[f"{name}_{method}"] = acc
                print(f"  {method:<19} accuracy {acc:.3f}   ({secs:.1f}s, {secs / len(test):.2f}s/item)", flush=True)
        cot_items = test[: args.cot_limit] if args.cot_limit else test
        if name == "arithmetic":
            base = {"adapter": None} if args.base_programs else {}
            pots = {"program_random": make_program(llm, pool, **base)}
            if embedder is not None:
                pots["program"] = pots["program_sc5"] = make_program(llm, pool, embed=embedder, **base)
                pots["program_numbers"] = make_program(llm, pool, True, embed=embedder, **base)
            for method, items, n in (("program", test, 1), ("program_random", test, 1), ("program_numbers", test, 1),
                                     ("program_sc5", cot_items, 5)):
                if method not in methods:
                    continue
                acc, secs, failed = run_program(pots[method], items, args.batch, n)
                results[f"{name}_{method}"] = acc
                print(f"  {method:<19} accuracy {acc:.3f}   ({secs:.1f}s, {secs / len(items):.2f}s/item, {len(items)} items, "
                      f"{failed} programs failed to run)", flush=True)
        if "cot" not in methods and "sc5" not in methods:
            continue
        cot = make_cot(llm, task, pool)
        sc = SelfConsistency(cot, n=5, temperature=0.7, seed=0)
        hits_cot = hits_sc = 0
        t_cot = t_sc = 0.0
        from tqdm.auto import tqdm

        for item in tqdm(cot_items, desc=f"{name} cot/sc5", unit="item", file=sys.stderr):
            v = {x: item[x] for x in cot.input_variables}
            if "cot" in methods:
                t = time.perf_counter()
                r = cot(**v)
                t_cot += time.perf_counter() - t
                hits_cot += correct(r.answer, item[task["target"]])
            if "sc5" in methods:
                t = time.perf_counter()
                s = sc(**v)
                t_sc += time.perf_counter() - t
                hits_sc += correct(s.answer, item[task["target"]])
        m = len(cot_items)
        counts[f"{name}_cot"] = m
        if "cot" in methods:
            results[f"{name}_cot"] = hits_cot / m
            cot_time += t_cot
            print(f"  {'cot (' + task['cot'] + ')':<19} accuracy {hits_cot / m:.3f}   ({t_cot:.1f}s, {t_cot / m:.2f}s/item, "
                  f"{m} items)", flush=True)
        if "sc5" in methods:
            results[f"{name}_sc5"] = hits_sc / m
            sc_time += t_sc
            ratio_txt = f", {t_sc / t_cot:.2f}x one CoT sample" if t_cot else ""
            print(f"  {'sc5':<19} accuracy {hits_sc / m:.3f}   ({t_sc:.1f}s, {t_sc / m:.2f}s/item{ratio_txt})", flush=True)

    shown = [m for m in METHODS + LIKELIHOOD + PROGRAM if any(f"{n}_{m}" in results for n in names)]
    print("\naccuracy        " + "".join(f"{m:>20}" for m in shown))
    for name in names:
        print(f"{name:<16}" + "".join(f"{results[f'{name}_{m}']:>20.3f}" if f"{name}_{m}" in results else f"{'-':>20}"
                                      for m in shown))
    ratio = sc_time / cot_time if cot_time and sc_time else None
    if ratio is not None:
        print(f"\nself-consistency n=5 time / one CoT sample: {ratio:.2f}x (target <= 2.5x)")
    out: dict[str, object] = {k: round(v, 4) for k, v in results.items()}
    headline = {"sentiment_likelihood": "sentiment_likelihood", "sentiment_fewshot_calibrated": "sentiment_fewshot_calibrated",
                "sentiment_zero_shot": "sentiment_zero_shot", "math_program": "arithmetic_program", "math_cot": "arithmetic_cot"}
    for key, source in headline.items():
        out[key] = out.get(source)
    for pub in ("reviews_public",):
        if f"{pub}_likelihood" in results and f"{pub}_zero_shot" in results:
            out[f"{pub}_likelihood_gain"] = round(results[f"{pub}_likelihood"] - results[f"{pub}_zero_shot"], 4)
    if "sentiment_likelihood" in results and "sentiment_zero_shot" in results:
        out["sentiment_likelihood_gain"] = round(results["sentiment_likelihood"] - results["sentiment_zero_shot"], 4)
    if "arithmetic_program" in results and "arithmetic_cot" in results:
        cot_acc = results["arithmetic_cot"]
        out["math_program_over_cot"] = round(results["arithmetic_program"] / cot_acc, 3) if cot_acc else None
    out.update(sc5_time_ratio=round(ratio, 3) if ratio is not None else None, items_per_task=counts,
               cot_items_per_task=args.cot_limit, arithmetic_items="dev" if args.arith_dev else "test",
               program_adapter=None if args.base_programs else getattr(llm, "adapters", [None])[0] if getattr(llm, "adapters", None) else None, capitalized_labels=args.capitalize_labels, model=llm.model_name, adapter=adapter, dtype=dtype, cpu=cpu_model(),
               threads=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
