"""Evaluation: metrics and an ``evaluate(program, dataset, metrics)`` runner that writes a JSON report.

>>> from augment.eval import evaluate, accuracy
>>> accuracy(["a", "b"], ["a", "a"])
0.5
"""

from augment.eval.metrics import (
    METRICS,
    accuracy,
    compute_metrics,
    entity_f1,
    exact_match,
    normalize_answer,
    perplexity,
    precision_recall_f1,
    rouge,
    token_f1,
)
from augment.eval.runner import EvalReport, as_predictor, evaluate, load_dataset

__all__ = [
    "evaluate",
    "EvalReport",
    "as_predictor",
    "load_dataset",
    "METRICS",
    "compute_metrics",
    "accuracy",
    "precision_recall_f1",
    "entity_f1",
    "exact_match",
    "token_f1",
    "normalize_answer",
    "rouge",
    "perplexity",
]
