"""One call for the whole procedure: data -> model -> method -> training -> saved output.

>>> from augment.finetune import finetune                      # doctest: +SKIP
>>> result = finetune(None, "train.jsonl", task="instruct", method="lora",
...                   out="adapters/fmt", epochs=2)               # doctest: +SKIP
>>> print(result.method)                                        # doctest: +SKIP
lora: 460,800 of 134,975,808 parameters train (0.341%)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from augment.errors import ConfigError, DataError
from augment.finetune.data import DataSummary, Splits, load_data, split_data, summarize
from augment.finetune.formatting import (
    Formatted,
    collate,
    format_classification,
    format_instruction,
    format_seq2seq,
    format_token_classification,
    label_list,
)
from augment.finetune.io import base_fingerprint, load_model_for_task, save_finetuned
from augment.finetune.methods import METHODS, TASKS, MethodInfo, apply_method
from augment.finetune.trainer import TrainConfig, TrainResult, default_loss, target_token_loss, train

__all__ = ["finetune", "FinetuneResult", "format_task", "DEFAULT_LR"]

#: learning rates that work for small models with each method
DEFAULT_LR = {"full": 5e-5, "lora": 5e-4, "prompt_tuning": 3e-2, "bitfit": 1e-3, "adapter": 1e-3}
_LABEL_FIELD = {"classify": "label", "token_classify": None}


@dataclass
class FinetuneResult:
    """The trained model (PeftModel for LoRA/prompt tuning), its tokenizer and the run's facts.

    Example::

        res = finetune(None, "train.jsonl", method="lora", max_steps=20, out="adapters/x")
        res.method.share, res.train.losses[-1], res.summary.truncated, res.metrics["eval_loss"]
    """

    model: Any
    tokenizer: Any
    method: MethodInfo
    train: TrainResult
    summary: DataSummary
    labels: list[str] = field(default_factory=list)
    out: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f", saved to {self.out}" if self.out else ""
        return f"{self.method}; {self.train.steps} steps, final loss {self.train.losses[-1]:.4f}{where}"


def format_task(task: str, records: Sequence[dict], tokenizer: Any, *, labels: list[str] | None = None,
                max_length: int = 512, system: str | None = None) -> Formatted:
    """Format ``records`` for ``task`` (see :mod:`augment.finetune.formatting`)."""
    if task == "instruct":
        return format_instruction(records, tokenizer, max_length=max_length, system=system)
    if task == "chat":
        from augment.finetune.chat import format_chat

        return format_chat(records, tokenizer, max_length=max_length)
    if task == "classify":
        return format_classification(records, tokenizer, labels=labels, max_length=max_length)
    if task == "token_classify":
        return format_token_classification(records, tokenizer, labels=labels, max_length=max_length)
    if task == "seq2seq":
        return format_seq2seq(records, tokenizer, max_length=max_length)
    raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")


def _summary_fields(task: str) -> tuple[list[str] | None, str | None]:
    if task == "classify":
        return ["text"], "label"
    if task == "token_classify":
        return ["tokens"], None
    return None, None


def finetune(
    model: Any = None,
    data: Any = None,
    *,
    task: str = "instruct",
    method: str = "lora",
    out: str | Path | None = None,
    eval_data: Any = None,
    test_size: float = 0.1,
    labels: Sequence[str] | None = None,
    max_length: int = 512,
    system: str | None = None,
    method_options: dict[str, Any] | None = None,
    lr: float | None = None,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 8,
    grad_accum: int = 1,
    gradient_checkpointing: bool = False,
    mixed_precision: str = "no",
    scheduler: str = "linear",
    warmup_ratio: float = 0.0,
    early_stopping_patience: int | None = None,
    checkpoint_dir: str | Path | None = None,
    save_every: int | None = None,
    resume: bool = True,
    seed: int = 0,
    progress: bool = True,
    eval_fn: Callable[[Any], dict[str, float]] | None = None,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> FinetuneResult:
    """Fine-tune ``model`` on ``data`` and (with ``out``) save the result.

    ``model``: None for the default (SmolLM2 for instruct, MiniLM for encoder tasks),
    a folder / ``.gguf`` / ``hf:id``, a TransformersLLM, or a ``(model, tokenizer)`` pair
    (trained in place). ``data``: anything :func:`load_data` reads. Without
    ``eval_data``, ``test_size`` of the data is held out (stratified by label for
    classification) and evaluated each epoch. Checkpoints go to ``checkpoint_dir``
    (default: ``out``) so an interrupted run resumes when called again.
    ``gradient_checkpointing`` recomputes activations in the backward pass: less
    memory, about a third more compute. ``mixed_precision="bf16"`` runs forward and
    backward under bfloat16 autocast (weights and optimizer stay float32): faster on
    GPUs and on CPUs with native bf16 (AMX / AVX512-BF16).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if data is None:
        raise DataError("no training data given; pass data= a file, a folder or a list of records")
    records = load_data(data)
    label_field = _LABEL_FIELD.get(task)
    if eval_data is not None:
        splits = Splits(records, test=load_data(eval_data))
    elif test_size > 0 and len(records) > 1:
        splits = split_data(records, test_size=test_size, seed=seed, stratify=label_field)
    else:
        splits = Splits(records)
    label_names: list[str] = []
    if task in ("classify", "token_classify"):
        col = "label" if task == "classify" else next((c for c in ("tags", "ner_tags", "labels") if c in records[0]), "tags")
        if col not in records[0]:
            raise DataError(f"{task} needs a column {col!r}; the data has {sorted(records[0])}")
        label_names = label_list([r.get(col) for r in splits.train], list(labels) if labels else None)
        if splits.test:
            label_list([r.get(col) for r in splits.test], label_names)  # raises on unknown labels

    base, tokenizer = load_model_for_task(model, task, labels=label_names or None)
    fingerprint = base_fingerprint(base)
    text_fields, summary_label = _summary_fields(task)
    summary = summarize(splits, tokenizer=tokenizer, text_fields=text_fields, label_field=summary_label,
                        max_length=max_length)
    train_fmt = format_task(task, splits.train, tokenizer, labels=label_names or None, max_length=max_length, system=system)
    eval_fmt = format_task(task, splits.test, tokenizer, labels=label_names or None, max_length=max_length,
                           system=system) if splits.test else None
    summary.truncated = train_fmt.truncated + (eval_fmt.truncated if eval_fmt else 0)

    if gradient_checkpointing:
        if not getattr(base, "supports_gradient_checkpointing", False):
            raise ConfigError(f"{type(base).__name__} does not support gradient checkpointing; drop gradient_checkpointing")
        if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.x name
            base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    trained, info = apply_method(base, method, task=task, **(method_options or {}))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    cfg = TrainConfig(
        epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
        lr=lr if lr is not None else DEFAULT_LR[method], scheduler=scheduler, warmup_ratio=warmup_ratio,
        early_stopping_patience=early_stopping_patience, seed=seed, progress=progress, resume=resume,
        checkpoint_dir=str(checkpoint_dir or out) if (checkpoint_dir or out) else None, save_every=save_every,
        mixed_precision=mixed_precision,
    )
    # generation tasks learn a few answer tokens per sequence: compute logits only there
    loss_fn = target_token_loss if task in ("instruct", "chat") and method != "prompt_tuning" else default_loss
    result = train(trained, train_fmt.features, config=cfg, eval_features=eval_fmt.features if eval_fmt else None,
                   collate_fn=lambda feats: collate(feats, pad), eval_fn=eval_fn, callbacks=callbacks, loss_fn=loss_fn)
    metrics = {"final_train_loss": result.losses[-1] if result.losses else None,
               "best_eval_loss": result.best_eval_loss, "steps": result.steps,
               "seconds_per_step": result.seconds_per_step}
    if result.history:
        metrics.update({k: v for k, v in result.history[-1].items() if k not in ("epoch", "step")})
    res = FinetuneResult(trained, tokenizer, info, result, summary, label_names, None, metrics)
    if out:
        res.out = save_finetuned(trained, tokenizer, out, {
            "format": 1, "method": method, "task": task, "method_options": info.options, "base": fingerprint,
            "labels": label_names, "trainable": info.trainable, "total": info.total, "share": info.share,
            "notes": info.notes, "metrics": metrics, "data": summary.to_dict(),
            "train": {"lr": cfg.lr, "epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
                      "grad_accum": grad_accum, "seed": seed, "history": result.history},
        })
    trained.eval()
    return res
