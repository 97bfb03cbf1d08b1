"""Evaluation metrics: classification, entities, QA, summarization, perplexity.

Every metric takes ``predictions`` and ``references`` (same length) and
returns a float or a dict of floats in [0, 1] (perplexity: >= 1).

>>> accuracy(["pos", "neg", "pos"], ["pos", "pos", "pos"])
0.6666666666666666
>>> exact_match(["The Eiffel Tower!"], ["eiffel tower"])
1.0
>>> round(token_f1(["in Paris France"], ["Paris"]), 3)
0.5
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Any, Callable, Sequence

from augment.errors import ConfigError, DataError, MissingDependencyError

__all__ = [
    "accuracy",
    "precision_recall_f1",
    "entity_f1",
    "normalize_answer",
    "exact_match",
    "token_f1",
    "rouge",
    "perplexity",
    "METRICS",
    "MODEL_METRICS",
    "compute_metrics",
    "check_metric_names",
]


def _check(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    if len(predictions) != len(references):
        raise DataError(f"{len(predictions)} predictions but {len(references)} references; give one prediction per reference")
    if len(references) == 0:
        raise DataError("no items to score; the dataset is empty")


def _label(x: Any) -> str:
    return "" if x is None else str(x).strip().lower()


def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Share of predictions equal to the reference (labels compared stripped and lower-cased)."""
    _check(predictions, references)
    return sum(_label(p) == _label(r) for p, r in zip(predictions, references)) / len(references)


def precision_recall_f1(predictions: Sequence[Any], references: Sequence[Any], labels: Sequence[Any] | None = None) -> dict[str, float]:
    """Precision, recall and F1, macro (mean over labels) and micro (pooled counts).

    ``labels`` defaults to every label seen in references or predictions; a
    label never predicted (or never present) scores 0 where undefined, as in scikit-learn.
    """
    _check(predictions, references)
    preds, refs = [_label(p) for p in predictions], [_label(r) for r in references]
    names = [_label(x) for x in labels] if labels is not None else sorted(set(refs) | set(preds))
    tp = collections.Counter(p for p, r in zip(preds, refs) if p == r)
    pc, rc = collections.Counter(preds), collections.Counter(refs)
    per = []
    for lab in names:
        p = tp[lab] / pc[lab] if pc[lab] else 0.0
        r = tp[lab] / rc[lab] if rc[lab] else 0.0
        per.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
    TP = sum(tp[lab] for lab in names)
    P, R = sum(pc[lab] for lab in names), sum(rc[lab] for lab in names)
    mp, mr = (TP / P if P else 0.0), (TP / R if R else 0.0)
    n = len(names) or 1
    return {
        "precision_macro": sum(x[0] for x in per) / n,
        "recall_macro": sum(x[1] for x in per) / n,
        "f1_macro": sum(x[2] for x in per) / n,
        "precision_micro": mp,
        "recall_micro": mr,
        "f1_micro": 2 * mp * mr / (mp + mr) if mp + mr else 0.0,
    }


def entity_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision/recall/F1 (micro) over BIO tag sequences, computed by seqeval."""
    _check(predictions, references)
    for i, (p, r) in enumerate(zip(predictions, references)):
        if isinstance(p, str) or isinstance(r, str):
            raise DataError(f"item {i}: entity F1 needs tag lists like ['B-PER', 'O'], not strings")
        if len(p) != len(r):
            raise DataError(f"item {i}: {len(p)} predicted tags for {len(r)} reference tags; give one tag per token")
    try:
        from seqeval.metrics import f1_score, precision_score, recall_score
    except ImportError as e:
        raise MissingDependencyError("seqeval", "pip install 'augment[eval]'", "entity-level F1") from e
    p, r = [list(x) for x in predictions], [list(x) for x in references]
    return {
        "entity_precision": float(precision_score(r, p, zero_division=0)),
        "entity_recall": float(recall_score(r, p, zero_division=0)),
        "entity_f1": float(f1_score(r, p, zero_division=0)),
    }


def normalize_answer(text: Any) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and articles (a, an, the), squeeze spaces."""
    text = "" if text is None else str(text).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _refs(ref: Any) -> list[Any]:
    return list(ref) if isinstance(ref, (list, tuple)) else [ref]


def _f1(pred: Any, ref: Any) -> float:
    p, r = normalize_answer(pred).split(), normalize_answer(ref).split()
    if not p or not r:
        return float(p == r)
    common = sum((collections.Counter(p) & collections.Counter(r)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


def exact_match(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Share of predictions equal to a reference after :func:`normalize_answer` (a reference may be a list of answers)."""
    _check(predictions, references)
    return sum(max(normalize_answer(p) == normalize_answer(r) for r in _refs(ref))
               for p, ref in zip(predictions, references)) / len(references)


def token_f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Mean SQuAD token-overlap F1 (best over a list of references)."""
    _check(predictions, references)
    return sum(max(_f1(p, r) for r in _refs(ref)) for p, ref in zip(predictions, references)) / len(references)


def rouge(predictions: Sequence[Any], references: Sequence[Any], types: Sequence[str] = ("rouge1", "rouge2", "rougeL")) -> dict[str, float]:
    """Mean ROUGE F-measures (rouge-score, with stemming)."""
    _check(predictions, references)
    try:
        from rouge_score import rouge_scorer
    except ImportError as e:
        raise MissingDependencyError("rouge-score", "pip install 'augment[eval]'", "ROUGE") from e
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=True)
    sums = dict.fromkeys(types, 0.0)
    for p, r in zip(predictions, references):
        scores = scorer.score(str(r), "" if p is None else str(p))
        for t in types:
            sums[t] += scores[t].fmeasure
    return {t: s / len(references) for t, s in sums.items()}


def perplexity(llm: Any, texts: Sequence[str], prompts: Sequence[Any] | None = None, batch_size: int = 8) -> float:
    """Perplexity of a local model (``TransformersLLM``) on ``texts``: exp of the mean token loss.

    Without ``prompts`` every token after the first of each text is scored.
    With ``prompts`` (one per text: a string or messages) each text is scored
    as the model's answer to its prompt, rendered with the chat template
    (``llm.render_prompt``), so only the answer tokens count, as in
    instruction tuning. Losses are summed over all scored tokens before the exp.
    """
    model, tok = getattr(llm, "model", None), getattr(llm, "tokenizer", None)
    if model is None or tok is None:
        raise ConfigError(f"perplexity needs a local model with .model and .tokenizer (a TransformersLLM), not {type(llm).__name__}")
    if prompts is not None and len(prompts) != len(texts):
        raise DataError(f"{len(prompts)} prompts for {len(texts)} texts; give one prompt per text")
    pairs = []
    for i, t in enumerate(texts):
        if not str(t).strip():
            continue
        target = tok(str(t), add_special_tokens=False)["input_ids"]
        context = [] if prompts is None else tok(llm.render_prompt(prompts[i]), add_special_tokens=False)["input_ids"]
        pairs.append((context, target))
    if not pairs:
        raise DataError("perplexity needs at least one non-empty text")
    import torch

    total, count = 0.0, 0
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    limit = getattr(llm, "context_window", None) or 2048
    model_device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            rows = []
            for context, target in pairs[i:i + batch_size]:
                ids = (context + target)[-limit:]
                scored = [0] * (len(ids) - len(target)) + [1] * min(len(target), len(ids))
                if not context:
                    scored[0] = 0  # the first token of a bare text has nothing to be predicted from
                rows.append((ids, scored))
            width = max(len(ids) for ids, _ in rows)
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            score = torch.zeros((len(rows), width))
            for j, (ids, scored) in enumerate(rows):
                input_ids[j, : len(ids)] = torch.tensor(ids)
                mask[j, : len(ids)] = 1
                score[j, : len(ids)] = torch.tensor(scored, dtype=torch.float)
            logits = model(input_ids=input_ids.to(model_device), attention_mask=mask.to(model_device)).logits.float().cpu()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            nll = -logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            m = score[:, 1:]
            total += float((nll * m).sum())
            count += int(m.sum())
    if count == 0:
        raise DataError("perplexity needs texts of at least two tokens (or prompts to score them against)")
    return math.exp(total / count)


#: metric name -> function(predictions, references) -> float | dict
METRICS: dict[str, Callable[..., Any]] = {
    "accuracy": accuracy,
    "f1": precision_recall_f1,
    "precision": precision_recall_f1,
    "recall": precision_recall_f1,
    "entity_f1": entity_f1,
    "exact_match": exact_match,
    "em": exact_match,
    "token_f1": token_f1,
    "rouge": rouge,
}
#: metrics computed from the model itself rather than from predictions
MODEL_METRICS = {"perplexity"}


def check_metric_names(names: Sequence[str]) -> None:
    """Raise ConfigError naming any unknown metric and listing the known ones."""
    unknown = [n for n in names if n not in METRICS and n not in MODEL_METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {', '.join(map(repr, unknown))}; choose from {sorted(set(METRICS) | MODEL_METRICS)}")


def compute_metrics(names: Sequence[str], predictions: Sequence[Any], references: Sequence[Any], *, llm: Any = None,
                    prompts: Sequence[Any] | None = None) -> dict[str, float]:
    """Compute several metrics by name into one flat dict.

    ``perplexity`` needs ``llm`` and scores the references (as answers to ``prompts`` when given).
    """
    check_metric_names(names)
    out: dict[str, float] = {}
    done: set = set()
    for name in names:
        if name == "perplexity":
            out["perplexity"] = perplexity(llm, [str(r) for r in references], prompts)
            continue
        fn = METRICS[name]
        if fn in done:
            continue
        done.add(fn)
        value = fn(predictions, references)
        out.update(value if isinstance(value, dict) else {name: float(value)})
    return out
