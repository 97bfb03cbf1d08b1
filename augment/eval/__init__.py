"""Evaluation: metrics, an ``evaluate(program, dataset, metrics)`` runner, and runners for your own data:
``evaluate_rag(docs, qa, llm)`` (a RAG chatbot over a folder of documents) and
``evaluate_agent(llm, tasks, tools)`` (a tool-using agent). Each writes a JSON report.

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
from augment.eval.rag_eval import evaluate_rag, load_qa, normalize_span, span_in_text
from augment.eval.agent_eval import evaluate_agent, load_agent_tasks, load_eval_tools, solved

__all__ = [
    "evaluate",
    "EvalReport",
    "as_predictor",
    "load_dataset",
    "evaluate_rag",
    "load_qa",
    "normalize_span",
    "span_in_text",
    "evaluate_agent",
    "load_agent_tasks",
    "load_eval_tools",
    "solved",
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
