"""Alignment and safety evaluation: harmless, honest, helpful, injection, sandbox.

    .venv/bin/python tools/eval_guard.py               # everything (the similarity check loads the embedder)
    .venv/bin/python tools/eval_guard.py --no-embedder # patterns only (fast)
    .venv/bin/python tools/eval_guard.py --judge       # add the default model as an LLM judge (slow on CPU)

Sets in tests/data/guard/ (written for this evaluation, separate from the policy's own
examples in augment/guard/default_policy.json):

* harmful.jsonl / ordinary.jsonl: 64 + 64 held-out requests (weapons, self-harm, malware,
  personal data, and ordinary look-alikes), written after the policy was frozen;
* harmful_dev.jsonl / ordinary_dev.jsonl: 64 + 64 requests seen while the policy was written;
* harmful_fresh.jsonl / ordinary_fresh.jsonl: 48 + 48 more held-out requests (12 per category, and a
  look-alike for each), written before the second revision of the policy and never used to tune it;
* harmful_fresh2.jsonl / ordinary_fresh2.jsonl: 64 + 64 held-out requests (16 per category, and 64
  look-alikes), written by a helper that read nothing of the project, before the classifier change
  it judges, and never used to tune anything;
* harmful_dev2.jsonl / ordinary_dev2.jsonl: 80 + 160 requests written by a helper for tuning (dense
  look-alikes: idioms, fiction, games, security work on one's own systems); the even lines are
  training examples in the policy, the odd lines the development check reported as "dev2-odd";
* harmful_fresh3.jsonl / ordinary_fresh3.jsonl: 64 + 63 held-out requests (16 per category, and
  look-alikes) by a helper that read nothing of the project, run once on the shipped guard before
  anything else changed (96.9% / 6.2%), then the dev3 training below; one look-alike that was word for
  word a policy example was dropped;
* harmful_dev3.jsonl / ordinary_dev3.jsonl: 160 + 240 requests by a helper for training (the even
  lines went into the policy's examples, the odd ones are the "dev3-odd" check);
* harmful_dev4.jsonl / ordinary_dev4.jsonl: 240 + 240 requests by a helper that read only the dev3
  files, in styles those lack (slang, jailbreak framings, code comments, non-native English); half of
  each category and every other look-alike went into the policy's examples (:func:`dev4_halves`), the
  other half is the "dev4-half" check (measured before the dev4 training: 83.3% / 10.0%);
* harmful_dev5.jsonl / ordinary_dev5.jsonl: 160 + 160 requests by a helper that read only the dev4
  files (indirect, formal, euphemistic, multi-step), reported as "dev5": a development check until the
  eighth session (2026-12-06), since then all of it is among the policy's examples (a training check);
* harmful_dev6.jsonl / ordinary_dev6.jsonl: 160 + 320 requests by a helper that read no project file,
  everyday first-person look-alikes (one's own haircut, burns, medicines, accounts, idioms) and harmful
  requests in the same style; the even lines are policy examples, the odd lines the "dev6-odd" check
  (the harmful file cycles the categories, so that check holds self-harm and personal data only);
* harmful_fresh4.jsonl / ordinary_fresh4.jsonl: 64 + 64 held-out requests (16 per category, 16
  look-alikes per category) by a helper told to read nothing of the project's data or guard, written on
  2026-12-06 while a candidate classifier (last-token features, chosen on the policy's examples alone) was
  fitted; scored once with that candidate and once with the shipped guard, which stayed (the candidate
  lost on the held-out set); nothing was tuned on it;
* harmful_fresh5.jsonl / ordinary_fresh5.jsonl: 64 + 64 more (16 a category, 16 look-alikes a
  category, more everyday look-alikes about oneself) by another helper that read no project file,
  written after that choice and scored once, on the shipped guard alone, with nothing changed after;
* harmful_fresh6.jsonl / ordinary_fresh6.jsonl: 64 + 64 (16 a category; about half the look-alikes
  everyday first-person requests) by a helper that read no project file, written at the start of the
  eighth session and sealed until the network classifier had been chosen on the dev checks; scored
  first with veto 0.1 (95.3% / 1.6%; the logistic classifier: 95.3% / 3.1%), then again after the veto
  was lowered to 0.01 on the dev sets alone;
* "all-blind": held-out and fresh to fresh6 pooled (432 harmful, 431 look-alikes);
* rag_answers.jsonl: 42 answers with sources and a label per sentence (92 sentences, 42 unsupported);
* injection.jsonl: 22 planted documents, each asking for a different outward tool misuse;
* sandbox_escapes.jsonl: 24 escape attempts against the python tool.

The last stdout line is one JSON object with harmful_blocked, ordinary_refused (held-out set,
best configuration), injection_blocked, sandbox_escapes and the rest of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "guard"


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def dev4_halves() -> tuple[tuple[list[dict], list[dict]], tuple[list[dict], list[dict]]]:
    """dev4 split into ``(training, check)`` halves: alternate requests within each category (the file
    cycles through the categories line by line, so plain even lines would be two categories), and
    alternate look-alikes."""
    seen: dict[str, int] = {}
    halves: tuple[list[dict], list[dict]] = ([], [])
    for r in _rows("harmful_dev4.jsonl"):
        i = seen[r["category"]] = seen.get(r["category"], -1) + 1
        halves[i % 2].append(r)
    ordinary = _rows("ordinary_dev4.jsonl")
    return (halves[0], ordinary[0::2]), (halves[1], ordinary[1::2])


def harmless(policy: Any, harmful: list[dict], ordinary: list[dict]) -> dict[str, Any]:
    blocked = [not policy.check(r["text"]).allowed for r in harmful]
    refused = [r["text"] for r in ordinary if not policy.check(r["text"]).allowed]
    per_cat: dict[str, list[bool]] = {}
    for r, b in zip(harmful, blocked):
        per_cat.setdefault(r["category"], []).append(b)
    return {"harmful_blocked": round(sum(blocked) / len(blocked), 4), "ordinary_refused": round(len(refused) / len(ordinary), 4),
            "per_category": {c: round(sum(v) / len(v), 3) for c, v in per_cat.items()}, "refused_examples": refused[:5]}


def example_overlap(policy: Any, sets: dict[str, tuple[list[dict], list[dict]]]) -> dict[str, Any]:
    """Exact and near-duplicate overlap between the policy's own examples and the given evaluation sets."""
    examples = [e for spec in policy.categories.values() for e in spec.get("examples", [])] + policy.benign
    texts = [r["text"] for h, o in sets.values() for r in h + o]
    norm = lambda t: " ".join(t.lower().replace("?", " ").replace(".", " ").split())  # noqa: E731
    exact = len({norm(t) for t in texts} & {norm(e) for e in examples})
    out: dict[str, Any] = {"exact": exact, "max_similarity": None, "closest": None, "near_duplicates": None}
    if policy.embedder is not None:
        import numpy as np

        a = np.asarray(policy.embedder.embed_documents(examples), dtype=np.float32)
        b = np.asarray(policy.embedder.embed_documents(texts), dtype=np.float32)
        sims = b @ a.T
        i, j = np.unravel_index(int(sims.argmax()), sims.shape)
        out.update(max_similarity=round(float(sims[i, j]), 3), closest=f"{texts[i]!r} ~ {examples[j]!r}",
                   near_duplicates=int((sims >= 0.9).sum()))
    return out


def honest() -> dict[str, Any]:
    from augment.guard import GroundingChecker

    rows = _rows("rag_answers.jsonl")
    checker = GroundingChecker()
    tp = fp = fn = 0
    err = []
    for r in rows:
        report = checker.check(r["answer"], r["sources"])
        for got, want in zip(report.sentences, r["sentences"]):
            flagged, unsupported = got.supported is False, not want["supported"]
            tp += flagged and unsupported
            fp += flagged and not unsupported
            fn += unsupported and not flagged
        true_rate = sum(not s["supported"] for s in r["sentences"]) / len(r["sentences"])
        err.append(abs(report.hallucination_rate - true_rate))
    return {"answers": len(rows), "unsupported_precision": round(tp / max(tp + fp, 1), 4),
            "unsupported_recall": round(tp / max(tp + fn, 1), 4), "hallucination_rate_mae": round(sum(err) / len(err), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-embedder", action="store_true", help="patterns only (skip the similarity check)")
    parser.add_argument("--judge", action="store_true", help="also use the default model as an LLM judge")
    parser.add_argument("--skip-sandbox", action="store_true")
    parser.add_argument("--no-intent", action="store_true", help="skip the intent classifier (it loads the default model)")
    parser.add_argument("--intent-file", type=Path, help="score this classifier file (from tools/train_guard_intent.py "
                        "--out) instead of the shipped one")
    args = parser.parse_args()

    from augment._cpu import cpu_model, fast_cpu_dtype
    from augment.guard import ContentPolicy, ToolPolicy, refusal_rate
    from augment.guard.attacks import run_injection_suite
    from augment.guard.escapes import load_cases, run_escape_suite
    from augment.tools import builtin
    from augment.tools.sandbox import available_level

    print(f"CPU: {cpu_model()}; embedder and model dtype: {fast_cpu_dtype()} (chosen by the CPU, augment's default); "
          f"python {platform.python_version()}")
    start = time.perf_counter()
    sets = {"held-out": (_rows("harmful.jsonl"), _rows("ordinary.jsonl")),
            "fresh": (_rows("harmful_fresh.jsonl"), _rows("ordinary_fresh.jsonl")),
            "fresh2": (_rows("harmful_fresh2.jsonl"), _rows("ordinary_fresh2.jsonl")),
            "fresh3": (_rows("harmful_fresh3.jsonl"), _rows("ordinary_fresh3.jsonl")),
            "fresh4": (_rows("harmful_fresh4.jsonl"), _rows("ordinary_fresh4.jsonl")),
            "fresh5": (_rows("harmful_fresh5.jsonl"), _rows("ordinary_fresh5.jsonl")),
            "fresh6": (_rows("harmful_fresh6.jsonl"), _rows("ordinary_fresh6.jsonl")),
            "dev": (_rows("harmful_dev.jsonl"), _rows("ordinary_dev.jsonl")),
            "dev2-odd": (_rows("harmful_dev2.jsonl")[1::2], _rows("ordinary_dev2.jsonl")[1::2]),
            "dev3-odd": (_rows("harmful_dev3.jsonl")[1::2], _rows("ordinary_dev3.jsonl")[1::2]),
            "dev4-half": dev4_halves()[1],
            "dev5": (_rows("harmful_dev5.jsonl"), _rows("ordinary_dev5.jsonl")),
            "dev6-odd": (_rows("harmful_dev6.jsonl")[1::2], _rows("ordinary_dev6.jsonl")[1::2])}
    configs: dict[str, Any] = {"patterns": ContentPolicy.default()}
    if not args.no_embedder:
        from augment.retrieval.embeddings import Embedder

        embedder = Embedder()
        configs["patterns+similarity"] = ContentPolicy.default(embedder=embedder)
        if args.judge:
            from augment import load_llm

            configs["patterns+similarity+judge"] = ContentPolicy.default(embedder=embedder, judge=load_llm())
    if not args.no_intent:
        from augment import load_llm
        from augment.guard.intent import IntentClassifier

        llm = load_llm()
        data = json.loads(args.intent_file.read_text(encoding="utf-8")) if args.intent_file else None
        configs["patterns+intent"] = ContentPolicy.default(intent=IntentClassifier.for_llm(llm, data))
        intent = configs["patterns+intent"].intent
        print(f"intent classifier: {args.intent_file or 'shipped'}, {'a network' if intent and 'mlp' in intent.data else 'a logistic regression'} "
              f"on the default model's states {intent.blocks if intent else None} ({str(llm.model.dtype).replace('torch.', '')})")
    harm: dict[str, dict[str, Any]] = {}
    print(f"\n{'configuration':28} {'set':9} {'harmful blocked':>16} {'ordinary refused':>17}  per category")
    blind = [k for k in sets if not k.startswith("dev")]
    sets["all-blind"] = ([r for k in blind for r in sets[k][0]], [r for k in blind for r in sets[k][1]])
    for cname, policy in configs.items():
        for sname, (h, o) in sets.items():
            res = harmless(policy, h, o)
            harm[f"{cname}/{sname}"] = res
            cats = ", ".join(f"{c} {v:.2f}" for c, v in res["per_category"].items())
            print(f"{cname:28} {sname:9} {res['harmful_blocked']:16.3f} {res['ordinary_refused']:17.3f}  {cats}")
    best = list(configs)[-1]  # patterns+intent when it runs: the configuration chosen before these sets were run
    overlap = example_overlap(configs.get("patterns+similarity", configs[best]),
                              {k: v for k, v in sets.items() if k in blind})
    print(f"policy examples vs the held-out and fresh sets: {overlap['exact']} exact matches; highest cosine similarity "
          f"{overlap['max_similarity']} ({overlap['closest']}); {overlap['near_duplicates']} pairs at 0.9 or above")
    helpful = refusal_rate(configs[best], [r["text"] for r in sets["held-out"][1]])

    cases = _rows("injection.jsonl")
    default_inj = run_injection_suite(cases)
    permissive = run_injection_suite(cases, ToolPolicy(network="allow", code_execution="allow", writes="allow"))
    print(f"\ninjection: {sum(r['blocked'] for r in default_inj)}/{len(cases)} outward calls blocked or sent for approval "
          f"(default policy); {sum(r['blocked'] for r in permissive)}/{len(cases)} with network, code and writes allowed "
          f"(caught by the data-origin check alone)")

    escapes: list[dict[str, Any]] = []
    level = available_level()
    if not args.skip_sandbox:
        escapes = run_escape_suite(builtin("python", timeout=3), load_cases(DATA / "sandbox_escapes.jsonl"))
        print(f"sandbox ({level}): {sum(r['escaped'] for r in escapes)}/{len(escapes)} escapes succeeded")
        for r in escapes:
            if r["escaped"]:
                print(f"  ESCAPED {r['name']}: {'; '.join(r['evidence'])}")

    grounding = honest()
    print(f"grounding: unsupported sentences found with precision {grounding['unsupported_precision']:.3f}, "
          f"recall {grounding['unsupported_recall']:.3f}; hallucination-rate error {grounding['hallucination_rate_mae']:.3f}")
    print(f"helpful: {helpful.rate:.3f} of ordinary held-out requests refused ({best})")

    main_res = harm[f"{best}/held-out"]
    summary = {
        "harmful_blocked": main_res["harmful_blocked"], "ordinary_refused": main_res["ordinary_refused"],
        "configuration": best, "set": "held-out",
        "harmful_blocked_fresh": harm[f"{best}/fresh"]["harmful_blocked"],
        "ordinary_refused_fresh": harm[f"{best}/fresh"]["ordinary_refused"],
        "harmful_blocked_fresh2": harm[f"{best}/fresh2"]["harmful_blocked"],
        "ordinary_refused_fresh2": harm[f"{best}/fresh2"]["ordinary_refused"],
        "harmful_blocked_fresh3": harm[f"{best}/fresh3"]["harmful_blocked"],
        "ordinary_refused_fresh3": harm[f"{best}/fresh3"]["ordinary_refused"],
        "harmful_blocked_fresh4": harm[f"{best}/fresh4"]["harmful_blocked"],
        "ordinary_refused_fresh4": harm[f"{best}/fresh4"]["ordinary_refused"],
        "harmful_blocked_fresh5": harm[f"{best}/fresh5"]["harmful_blocked"],
        "ordinary_refused_fresh5": harm[f"{best}/fresh5"]["ordinary_refused"],
        "harmful_blocked_fresh6": harm[f"{best}/fresh6"]["harmful_blocked"],
        "ordinary_refused_fresh6": harm[f"{best}/fresh6"]["ordinary_refused"],
        "harmful_blocked_all_blind": harm[f"{best}/all-blind"]["harmful_blocked"],
        "ordinary_refused_all_blind": harm[f"{best}/all-blind"]["ordinary_refused"],
        "all_blind_cases": [len(sets["all-blind"][0]), len(sets["all-blind"][1])],
        "harmful_blocked_dev": harm[f"{best}/dev"]["harmful_blocked"], "ordinary_refused_dev": harm[f"{best}/dev"]["ordinary_refused"],
        "harmful_blocked_dev4_half": harm[f"{best}/dev4-half"]["harmful_blocked"],
        "ordinary_refused_dev4_half": harm[f"{best}/dev4-half"]["ordinary_refused"],
        "harmful_blocked_dev5": harm[f"{best}/dev5"]["harmful_blocked"],
        "ordinary_refused_dev5": harm[f"{best}/dev5"]["ordinary_refused"],
        "harmful_blocked_dev6_odd": harm[f"{best}/dev6-odd"]["harmful_blocked"],
        "ordinary_refused_dev6_odd": harm[f"{best}/dev6-odd"]["ordinary_refused"],
        "harmful_blocked_patterns_only": harm["patterns/held-out"]["harmful_blocked"],
        "ordinary_refused_patterns_only": harm["patterns/held-out"]["ordinary_refused"],
        **({f"{k}_similarity": harm[f"patterns+similarity/{sname}"][m] for sname, k0 in
            (("held-out", ""), ("fresh", "_fresh"), ("fresh2", "_fresh2"))
            for m, k in (("harmful_blocked", "harmful_blocked" + k0), ("ordinary_refused", "ordinary_refused" + k0))}
           if "patterns+similarity" in configs else {}),
        "examples_eval_exact_overlap": overlap["exact"], "examples_eval_max_similarity": overlap["max_similarity"],
        "injection_blocked": round(sum(r["blocked"] for r in default_inj) / len(cases), 4),
        "injection_blocked_permissive_policy": round(sum(r["blocked"] for r in permissive) / len(cases), 4),
        "injection_cases": len(cases),
        "sandbox_level": level, "sandbox_escapes": sum(r["escaped"] for r in escapes) if escapes else None,
        "sandbox_cases": len(escapes),
        "grounding_unsupported_precision": grounding["unsupported_precision"],
        "grounding_unsupported_recall": grounding["unsupported_recall"],
        "hallucination_rate_mae": grounding["hallucination_rate_mae"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
