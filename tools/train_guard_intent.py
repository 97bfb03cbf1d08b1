"""Fit the guard's harmful-intent classifier on the default model's hidden states and ship it.

    .venv/bin/python tools/train_guard_intent.py            # writes augment/guard/intent_smollm2.json
    .venv/bin/python tools/train_guard_intent.py --out F    # somewhere else

Training data: the content policy's own examples (augment/guard/default_policy.json: harmful
requests per category, and the benign look-alikes, which include the training halves of the dev2, dev3
and dev4 sets);
never the evaluation sets in tests/data/guard.
Features: the mean of layer ``--layer`` (25 of 30; ``--features`` gives several blocks instead) over the request as a user
turn, base weights, computed in bfloat16 and in float32 and fitted together (a CPU with native bf16 runs the model in
bf16, another in float32; fitted on bf16 alone, float32 features let 3 of 64 dev requests through).
Threshold 0.8 and veto 0.1 were chosen before the evaluation sets were run: the highest recall with
at most 4% look-alikes refused in 5-fold cross-validation on the 400 examples written last (the
other examples always in training). Tried on 2026-12-06 and not shipped (see augment/guard/intent.py):
``--features mean:25,last:20,last:25,last:30 --threshold 0.82``, better in this cross-validation
(94.0% / 2.4% against 91.7% / 2.3%), worse on the held-out evaluation set.
This script prints a plain 5-fold cross-validation over all
examples and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT = Path(__file__).resolve().parents[1] / "augment" / "guard" / "intent_smollm2.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--layer", type=int, default=25, help="the layer whose mean is the feature when --features is not given")
    ap.add_argument("--features", help="feature blocks instead, pool:layer comma-separated (pool 'mean' over the "
                    "prompt or 'last' token), e.g. mean:25,last:30")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--veto", type=float, default=0.1)
    ap.add_argument("--l2", type=float, default=1e-4, help="the logistic regression's L2 penalty (1e-5 was tried: dev checks up, blind sets down)")
    ap.add_argument("--dtypes", default="bfloat16,float32", help="model dtypes whose features are fitted together")
    ap.add_argument("--cache", type=Path, help="an .npz file keeping the features between runs (recomputed when the examples change)")
    ap.add_argument("--sweep", action="store_true", help="also print the cross-validated figures at other thresholds, "
                    "over all examples and over the newest batch (the dev4 training half)")
    args = ap.parse_args()

    import numpy as np

    from augment._cpu import cpu_model
    from augment.guard.content import ContentPolicy, default_policy_data
    from augment.guard.intent import IntentClassifier, _as_blocks, _normalize, fit_intent, hidden_features
    from augment.llm.loader import load_llm

    blocks = _as_blocks([b.split(":") for b in args.features.split(",")] if args.features else args.layer)
    data = default_policy_data()
    texts, labels = [], []
    for name, spec in data["categories"].items():
        texts += spec["examples"]
        labels += [name] * len(spec["examples"])
    texts += data["benign_examples"]
    labels += [""] * len(data["benign_examples"])
    dtypes = args.dtypes.split(",")
    print(f"CPU: {cpu_model()}; model dtypes {dtypes}; {len(texts)} examples "
          f"({sum(1 for x in labels if x)} harmful, {labels.count('')} benign)", flush=True)
    stamp = hashlib.sha256(json.dumps([texts, dtypes, blocks]).encode()).hexdigest()
    cached = np.load(args.cache) if args.cache is not None and args.cache.exists() else None
    if cached is not None and str(cached["stamp"]) == stamp:
        feats = cached["feats"]
        llm = load_llm(dtype=dtypes[-1])
        print(f"features from {args.cache}", flush=True)
    else:
        per_dtype = []
        for dtype in dtypes:  # a machine runs the model in bf16 or float32: fit on both, so either reads the same
            llm = load_llm(dtype=dtype)
            start = time.perf_counter()
            per_dtype.append(hidden_features(llm, texts, blocks))
            print(f"features in {dtype}: {time.perf_counter() - start:.0f} s", flush=True)
        feats = np.vstack(per_dtype)
        if args.cache is not None:
            np.savez(args.cache, feats=feats, stamp=stamp)
    dtype = ",".join(dtypes)
    n_texts = len(texts)
    texts, labels = texts * len(dtypes), labels * len(dtypes)

    # plain 5-fold cross-validation over all examples (patterns + classifier with the veto, as checked)
    y = np.array([1 if x else 0 for x in labels])
    patterns = ContentPolicy.default()
    pat = np.array([not patterns.check(t).allowed for t in texts])
    folds = np.tile(np.random.default_rng(0).integers(0, 5, n_texts), len(dtypes))  # an example's copies share a fold
    prob = np.zeros(len(texts))
    for f in range(5):
        tr = folds != f
        fitted = fit_intent(feats[tr], [lab for lab, keep in zip(labels, tr) if keep], layer=args.layer, l2=args.l2,
                            blocks=blocks)
        v = _normalize(feats[~tr], np.asarray(fitted["mean"]), len(blocks))
        w = np.asarray(fitted["weights"])
        prob[~tr] = 1 / (1 + np.exp(-(v @ w[:-1] + w[-1])))
    if args.sweep:
        from eval_guard import dev4_halves

        newest = {r["text"] for rows in dev4_halves()[0] for r in rows}
        last = np.array([t in newest for t in texts])
        print("threshold  all: blocked refused   newest batch: blocked refused")
        for th in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
            b = (pat & (prob >= args.veto)) | (prob >= th)
            print(f"{th:9.2f}  {b[y == 1].mean():13.3f} {b[y == 0].mean():7.3f}   "
                  f"{b[(y == 1) & last].mean():20.3f} {b[(y == 0) & last].mean():7.3f}", flush=True)
    block = (pat & (prob >= args.veto)) | (prob >= args.threshold)
    cv = {"harmful_blocked": round(float(block[y == 1].mean()), 4), "benign_refused": round(float(block[y == 0].mean()), 4),
          "classifier_alone_harmful": round(float((prob[y == 1] >= args.threshold).mean()), 4),
          "classifier_alone_benign": round(float((prob[y == 0] >= args.threshold).mean()), 4),
          "patterns_alone_harmful": round(float(pat[y == 1].mean()), 4), "patterns_alone_benign": round(float(pat[y == 0].mean()), 4)}
    print(f"5-fold CV on the policy examples: patterns + classifier {cv['harmful_blocked']:.3f} harmful blocked, "
          f"{cv['benign_refused']:.3f} look-alikes refused (patterns alone {cv['patterns_alone_harmful']:.3f} / "
          f"{cv['patterns_alone_benign']:.3f}; classifier alone {cv['classifier_alone_harmful']:.3f} / "
          f"{cv['classifier_alone_benign']:.3f})", flush=True)

    fitted = fit_intent(feats, labels, layer=args.layer, l2=args.l2, blocks=blocks)
    rounded = {k: (v if k == "features" else [round(x, 6) for x in v] if isinstance(v, list) else
                   {c: [round(x, 6) for x in vec] for c, vec in v.items()} if isinstance(v, dict) else v)
               for k, v in fitted.items()}
    out = {"about": "augment's harmful-intent classifier (augment/guard/intent.py), fitted by tools/train_guard_intent.py "
                    "on the content policy's examples", "model": llm.model_name, "fingerprint": IntentClassifier.fingerprint(llm),
           "pool": "+".join(f"{k}{n}" for k, n in blocks), "threshold": args.threshold, "veto": args.veto, "trained_dtype": dtype,
           "examples": {"harmful": int(y.sum()) // len(dtypes), "benign": int((y == 0).sum()) // len(dtypes)}, "cv": cv,
           **rounded}
    args.out.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    print(json.dumps({"cv": cv, "examples": out["examples"], "features": blocks, "threshold": args.threshold,
                      "veto": args.veto, "dtype": dtype, "cpu": cpu_model(), "out": str(args.out)}))


if __name__ == "__main__":
    main()
