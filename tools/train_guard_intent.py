"""Fit the guard's harmful-intent classifier on the default model's hidden states and ship it.

    .venv/bin/python tools/train_guard_intent.py                                # the shipped one
    .venv/bin/python tools/train_guard_intent.py --cache /tmp/intent.npz --out F   # keep the states, write elsewhere
    .venv/bin/python tools/train_guard_intent.py --hidden 0 --l2 1e-4 --threshold 0.8   # the logistic regression

Training data: the content policy's own examples (augment/guard/default_policy.json: harmful
requests per category, and the benign look-alikes, which include the training halves of the dev2, dev3,
dev4 and dev6 sets and all of dev5); never the held-out or fresh evaluation sets in tests/data/guard.
Features: the mean of layer ``--layer`` (25 of 30; ``--features`` gives several blocks instead) over the request as a user
turn, base weights, computed in bfloat16 and in float32 and fitted together (a CPU with native bf16 runs the model in
bf16, another in float32). ``--cache`` keeps each text's states, so adding examples runs only the new ones
through the model (bf16 is emulated and slow on a CPU without it: ~1.3 s a text on an AVX2 EPYC, float32 ~0.18 s).
Head: ``--hidden 64`` a one-hidden-layer network (shipped since 2026-12-06, eighth session), ``--hidden 0`` a
logistic regression (shipped before, threshold 0.8). The network, its penalty and threshold 0.95 were chosen
on the development checks the classifier does not train on (see augment/guard/intent.py) before any held-out
set was scored with it. Tried on 2026-12-06 and not shipped: ``--features mean:25,last:20,last:25,last:30``.
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


def _features(cache, dtype, texts, blocks, model):
    """The features of ``texts`` in ``dtype``, reusing the rows ``cache`` (an .npz file) already holds for the
    same blocks and dtype, and computing (then storing) only the missing texts; ``model(dtype)`` gives the model."""
    import numpy as np

    from augment.guard.intent import hidden_features

    key = json.dumps([dtype, blocks])
    known: dict[str, np.ndarray] = {}
    stored = dict(np.load(cache, allow_pickle=False)) if cache is not None and cache.exists() else {}
    for name in [k for k in stored if k.startswith("texts_")]:
        tag = name[len("texts_"):]
        if str(stored[f"key_{tag}"]) == key:
            known = dict(zip(stored[name].tolist(), stored[f"feats_{tag}"]))
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        llm = model(dtype)
        start = time.perf_counter()
        known.update(zip(missing, hidden_features(llm, missing, blocks)))
        print(f"features in {dtype}: {len(missing)} new texts in {time.perf_counter() - start:.0f} s", flush=True)
    else:
        print(f"features in {dtype}: all {len(texts)} texts from {cache}", flush=True)
    if cache is not None and missing:
        tag = hashlib.sha256(key.encode()).hexdigest()[:12]
        stored.update({f"texts_{tag}": np.array(list(known)), f"feats_{tag}": np.stack(list(known.values())),
                       f"key_{tag}": np.array(key)})
        np.savez(cache, **stored)
    return np.stack([known[t] for t in texts])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--layer", type=int, default=25, help="the layer whose mean is the feature when --features is not given")
    ap.add_argument("--features", help="feature blocks instead, pool:layer comma-separated (pool 'mean' over the "
                    "prompt or 'last' token), e.g. mean:25,last:30")
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--veto", type=float, default=0.01, help="a pattern match the classifier scores under this is let through "
                    "(0.1 for the logistic regression; the network, surer of itself, vetoed harmful dev requests at 0.1)")
    ap.add_argument("--l2", type=float, default=1.0, help="the L2 penalty: 1 for the network (on the dev checks 0.01 refused more look-alikes, 3 blocked fewer "
                    "requests), 1e-4 for the logistic regression (1e-5 was tried: dev checks up, blind sets down)")
    ap.add_argument("--hidden", type=int, default=64, help="hidden units of a one-hidden-layer network (0: a logistic regression)")
    ap.add_argument("--steps", type=int, help="optimiser steps (default 3000 for the logistic regression, 400 Adam steps for the network)")
    ap.add_argument("--seed", type=int, default=0, help="the network's initialisation seed")
    ap.add_argument("--dtypes", default="bfloat16,float32", help="model dtypes whose features are fitted together")
    ap.add_argument("--cache", type=Path, help="an .npz file keeping each text's features between runs (only new examples "
                    "are run through the model)")
    ap.add_argument("--sweep", action="store_true", help="also print the cross-validated figures at other thresholds, "
                    "over all examples and over the newest batch (the dev4 training half)")
    args = ap.parse_args()

    import numpy as np

    from augment._cpu import cpu_model
    from augment.guard.content import ContentPolicy, default_policy_data
    from augment.guard.intent import IntentClassifier, _as_blocks, _normalize, fit_intent, head
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
    models: dict[str, object] = {}

    def model(dtype: str):  # each dtype loaded once: for its features, and the last one for the fingerprint
        if dtype not in models:
            models[dtype] = load_llm(dtype=dtype)
        return models[dtype]

    feats = np.vstack([_features(args.cache, dtype, texts, blocks, model) for dtype in dtypes])
    llm = model(dtypes[-1])
    dtype = ",".join(dtypes)
    fit_options = dict(layer=args.layer, l2=args.l2, blocks=blocks, hidden=args.hidden, seed=args.seed,
                       **({"steps": args.steps} if args.steps else {}))
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
        fitted = fit_intent(feats[tr], [lab for lab, keep in zip(labels, tr) if keep], **fit_options)
        prob[~tr] = head(fitted)(_normalize(feats[~tr], np.asarray(fitted["mean"]), len(blocks)))
    if args.sweep:
        from eval_guard import dev4_halves

        newest = {r["text"] for rows in dev4_halves()[0] for r in rows}
        last = np.array([t in newest for t in texts])
        print("threshold  all: blocked refused   newest batch: blocked refused")
        for th in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98):
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

    fitted = fit_intent(feats, labels, **fit_options)
    rounded = {k: (v if k in ("features", "mlp") else [round(x, 6) for x in v] if isinstance(v, list) else
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
