"""``evaluate(program, dataset, metrics)``: run any program over a dataset, score it, write a JSON report.

A program is a fine-tuned or plain model (an augment ``LLM``), a prompt
(``PromptTemplate`` / ``FewShot`` plus ``llm=``), a ``ChainOfThought`` or
``SelfConsistency``, a RAG pipeline (anything with ``.ask``), an agent
(anything with ``.run``) or a plain callable.

>>> from augment.llm.fake import FakeLLM
>>> data = [{"input": "2+2?", "output": "4"}, {"input": "3+3?", "output": "6"}]
>>> report = evaluate(FakeLLM(["4", "7"]), data, ["accuracy"], progress=False)
>>> report.metrics
{'accuracy': 0.5}
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from augment.errors import AugmentError, ConfigError, DataError
from augment.eval.metrics import MODEL_METRICS, check_metric_names, compute_metrics

__all__ = ["evaluate", "EvalReport", "load_dataset", "as_predictor", "INPUT_KEYS", "TARGET_KEYS"]

INPUT_KEYS = ("instruction", "prompt", "question", "input", "text", "task")
TARGET_KEYS = ("output", "answer", "label", "target", "reference", "completion", "response", "summary", "tags")
_ANSWER_ATTRS = ("answer", "final_answer", "output", "text", "content")


@dataclass
class EvalReport:
    """Scores and per-item predictions of one :func:`evaluate` run; ``save(path)`` writes it as JSON.

    >>> rep = EvalReport({"accuracy": 1.0}, [{"index": 0, "prediction": "a", "reference": "a"}], program="demo")
    >>> rep.to_dict()["metrics"], rep.n
    ({'accuracy': 1.0}, 1)
    """

    metrics: dict[str, float]
    predictions: list[dict[str, Any]]
    program: str = ""
    seconds: float = 0.0
    errors: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.predictions)

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program, "n": self.n, "seconds": round(self.seconds, 3), "errors": self.errors,
                "metrics": self.metrics, "meta": self.meta, "predictions": self.predictions}

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        return p

    def __str__(self) -> str:
        rows = [f"{self.program}: {self.n} items in {self.seconds:.1f}s ({self.errors} errors)"]
        rows += [f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}" for k, v in self.metrics.items()]
        return "\n".join(rows)


def load_dataset(data: str | Path | Iterable[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """Items from a list of dicts, a Hugging Face dataset, or a .jsonl / .json / .csv file."""
    if isinstance(data, (str, Path)):
        p = Path(data)
        if not p.is_file():
            raise DataError(f"dataset file {str(p)!r} does not exist")
        text = p.read_text(encoding="utf-8")
        try:
            if p.suffix == ".jsonl":
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            elif p.suffix == ".json":
                items = json.loads(text)
            elif p.suffix == ".csv":
                items = list(csv.DictReader(text.splitlines()))
            else:
                raise DataError(f"unsupported dataset file {p.name!r}; use .jsonl, .json or .csv")
        except json.JSONDecodeError as e:
            raise DataError(f"{p.name} is not valid JSON (line {e.lineno}): {e.msg}") from None
    else:
        items = list(data)
    if limit is not None:
        items = items[:limit]
    if not items:
        raise DataError("the dataset is empty; nothing to evaluate")
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            raise DataError(f"item {i} is a {type(it).__name__}; each item must be a dict (a JSON object)")
    return items


def _pick(item: dict[str, Any], key: str | None, candidates: Sequence[str], what: str) -> str:
    if key is not None:
        if key not in item:
            raise DataError(f"the dataset has no {what} column {key!r} (columns: {sorted(item)})")
        return key
    for k in candidates:
        if k in item:
            return k
    raise DataError(f"cannot find the {what} column among {sorted(item)}; pass {what}_key=... (e.g. {candidates[0]!r})")


def _input_text(item: dict[str, Any], input_key: str | None) -> str:
    """The item's input; an ``instruction`` with an ``input`` column becomes "instruction\n\ninput" (as in fine-tuning)."""
    key = _pick(item, input_key, INPUT_KEYS, "input")
    extra = item.get("input") if input_key is None and key == "instruction" else None
    return f"{item[key]}\n\n{extra}" if extra else str(item[key])


def _answer(result: Any) -> Any:
    if isinstance(result, (str, int, float, bool, list, dict)) or result is None:
        return result
    for attr in _ANSWER_ATTRS:
        if hasattr(result, attr):
            return getattr(result, attr)
    return str(result)


def as_predictor(program: Any, *, llm: Any = None, input_key: str | None = None, **options: Any) -> Callable[[dict[str, Any]], tuple[Any, dict]]:
    """Adapt ``program`` to ``item -> (prediction, extras)``; see :func:`evaluate` for what counts as a program."""
    from augment.llm.base import LLM
    from augment.prompts import ChainOfThought, Prompt, SelfConsistency

    def variables(item: dict[str, Any], names: Sequence[str], i: Any = "") -> dict[str, Any]:
        missing = [n for n in names if n not in item]
        if missing:
            raise DataError(f"item {i}: the prompt needs {missing} but the item has only {sorted(item)}")
        return {n: item[n] for n in names}

    if isinstance(program, (ChainOfThought, SelfConsistency)):
        def run_reasoner(item):
            r = program(**variables(item, program.input_variables))
            if isinstance(program, SelfConsistency):
                extra = {"vote_share": r.vote_share, "votes": {str(k): v for k, v in r.votes.items()}}
            else:
                extra = {"rationale": r.rationale, "raw": r.raw}
            return r.answer, extra
        return run_reasoner
    if isinstance(program, Prompt):
        if llm is None:
            raise ConfigError("a prompt needs a model to run: evaluate(prompt, data, metrics, llm=load_llm())")

        def run_prompt(item):
            return llm.complete(program.render(**variables(item, program.input_variables)), **options).text.strip(), {}
        return run_prompt
    if isinstance(program, LLM):
        def run_llm(item):
            return program.complete(_input_text(item, input_key), **options).text.strip(), {}
        return run_llm
    for method in ("ask", "run"):  # a RAG pipeline, then an agent
        if callable(getattr(program, method, None)):
            fn = getattr(program, method)

            def run_obj(item, fn=fn):
                result = fn(_input_text(item, input_key))
                return _answer(result), {}
            return run_obj
    if callable(program):
        def run_callable(item):
            arg = item[input_key] if input_key is not None else item
            return _answer(program(arg)), {}
        return run_callable
    raise ConfigError(
        f"cannot evaluate a {type(program).__name__}; pass an LLM, a prompt with llm=, a ChainOfThought, "
        "an object with .ask (RAG) or .run (agent), or a callable"
    )


def evaluate(
    program: Any,
    dataset: str | Path | Iterable[dict[str, Any]],
    metrics: Sequence[str] | str = ("accuracy",),
    report: str | Path | None = None,
    *,
    llm: Any = None,
    input_key: str | None = None,
    target_key: str | None = None,
    parse: Callable[[Any], Any] | None = None,
    labels: Sequence[str] | None = None,
    limit: int | None = None,
    progress: bool = True,
    **options: Any,
) -> EvalReport:
    """Run ``program`` on every item of ``dataset``, score the predictions, optionally write ``report`` (JSON).

    - An augment ``LLM`` is completed on ``item[input_key]`` (``**options`` go
      to ``complete``, e.g. ``max_tokens=32``); a ``PromptTemplate``/``FewShot``
      is rendered from the item's fields and completed by ``llm``; a
      ``ChainOfThought``/``SelfConsistency`` returns its parsed answer; an object
      with ``.ask`` (RAG) or ``.run`` (agent) gets ``item[input_key]`` and its
      result's ``answer``/``output``/``text`` is used; any other callable gets
      ``item[input_key]`` when ``input_key`` is given, else the whole item.
    - ``input_key``/``target_key`` default to the first present of
      :data:`INPUT_KEYS` / :data:`TARGET_KEYS` (``instruction`` + ``input`` are
      joined as in fine-tuning data).
    - ``labels``: map free text to the first label it mentions (classification);
      ``parse``: any ``text -> answer`` callable (e.g. ``NumberParser()``).
    - Metric names: accuracy, f1 (precision/recall/F1 macro and micro), entity_f1,
      exact_match, token_f1, rouge, perplexity (of ``llm`` or the program's model: the references scored
      as answers to the items' inputs through the chat template, or alone when there is no input column).
    - An augment error on one item (e.g. the model's context is exceeded) is
      recorded on that item (``error``) and scored as a ``None`` prediction.
    """
    from tqdm.auto import tqdm

    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ConfigError("give at least one metric, e.g. metrics=['accuracy']")
    check_metric_names(names)
    items = load_dataset(dataset, limit)
    tkey = _pick(items[0], target_key, TARGET_KEYS, "target")
    for i, it in enumerate(items):
        if tkey not in it:
            raise DataError(f"item {i} has no target {tkey!r} (columns: {sorted(it)})")
    if labels is not None and parse is None:
        from augment.prompts.parsers import LabelParser

        parse = LabelParser(labels)
    model_only = all(n in MODEL_METRICS for n in names)
    predict = None if model_only else as_predictor(program, llm=llm, input_key=input_key, **options)
    rows: list[dict[str, Any]] = []
    errors = 0
    start = time.perf_counter()
    for i, item in enumerate(tqdm(items, desc="evaluate", disable=not progress or model_only, unit="item")):
        row: dict[str, Any] = {"index": i, "reference": item[tkey]}
        if predict is not None:
            try:
                pred, extra = predict(item)
            except DataError:
                raise
            except AugmentError as e:
                pred, extra = None, {"error": f"{type(e).__name__}: {e}"}
                errors += 1
            if parse is not None and isinstance(pred, str):
                raw, parsed = pred, parse(pred)
                pred = parsed.value if hasattr(parsed, "ok") else parsed
                extra = {"raw": raw, **extra}
            row.update(prediction=pred, **extra)
        rows.append(row)
    scorer = llm if llm is not None else (program if hasattr(program, "tokenizer") else None)
    prompts = None
    if "perplexity" in names:  # score the references as answers to the items' inputs, when there are inputs
        try:
            prompts = [_input_text(it, input_key) for it in items]
        except DataError:
            prompts = None
    scores = compute_metrics(names, [r.get("prediction") for r in rows], [r["reference"] for r in rows], llm=scorer,
                             prompts=prompts)
    rep = EvalReport(scores, rows, program=_describe(program), seconds=time.perf_counter() - start, errors=errors,
                     meta={"metrics": names, "target_key": tkey})
    if report is not None:
        rep.save(report)
    return rep


def _describe(program: Any) -> str:
    name = getattr(program, "model_name", None)
    return f"{type(program).__name__}({name})" if name else (getattr(program, "__name__", None) or type(program).__name__)
