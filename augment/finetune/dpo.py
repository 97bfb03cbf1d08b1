"""Preference tuning with DPO (Rafailov et al. 2023), the practical stand-in for RLHF.

For each (prompt, chosen, rejected) pair the loss is::

    -log sigmoid( beta * [ (log pi(chosen) - log ref(chosen)) - (log pi(rejected) - log ref(rejected)) ] )

where log pi(.) sums the answer tokens' log-probabilities under the model being
trained and ``ref`` is the reference model (by default the starting model).
Reference log-probabilities are computed once before training, so no second
model is held in memory, and every method (full, LoRA, prompt tuning, BitFit,
adapters) works through the same :func:`~augment.finetune.trainer.train` loop
(checkpoints and resume included). ``backend="trl"`` runs TRL's ``DPOTrainer``
(trl 1.16 works with our transformers) on the same data instead.

Pairs come from a list of dicts / :class:`~augment.feedback.PreferencePair`, a
jsonl file of pairs, or a :class:`~augment.feedback.FeedbackLog` (file) of rated answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from augment.errors import ConfigError, DataError
from augment.finetune.formatting import collate, format_preference
from augment.finetune.io import base_fingerprint, load_model_for_task, save_finetuned
from augment.finetune.methods import MethodInfo, apply_method
from augment.finetune.trainer import TrainConfig, TrainResult, train

__all__ = ["train_dpo", "DPOResult", "preference_margin", "sequence_logps", "load_pairs"]

DPO_LR = {"full": 1e-5, "lora": 5e-4, "prompt_tuning": 1e-2, "bitfit": 5e-4, "adapter": 5e-4}


def load_pairs(pairs: Any) -> list[dict[str, str]]:
    """Preference pairs as dicts from a list, a FeedbackLog, a feedback jsonl or a pairs file."""
    from augment.feedback import FeedbackLog

    from augment.finetune.data import load_data

    if isinstance(pairs, FeedbackLog):
        out = [p.to_dict() for p in pairs.preference_pairs()]
    elif isinstance(pairs, (str, Path)):
        recs = load_data(pairs)
        out = [p.to_dict() for p in FeedbackLog(pairs).preference_pairs()] if "rating" in recs[0] else recs
    else:
        out = [p.to_dict() if hasattr(p, "to_dict") else dict(p) for p in pairs]
    if not out:
        raise DataError("no preference pairs: record thumbs-down answers with a preferred rewrite, or "
                        "thumbs up and down answers to the same prompt, before running DPO")
    return out


def sequence_logps(model: Any, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
    """Sum of the log-probabilities of the label tokens (labels != -100), one value per row."""
    import torch

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    logits = logits[:, -input_ids.shape[1]:]  # prompt tuning prepends virtual tokens
    logits, target = logits[:, :-1].float(), labels[:, 1:]
    mask = target != -100
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def _pair_logps(model: Any, batch: dict) -> tuple[Any, Any]:
    c = sequence_logps(model, batch["chosen_input_ids"], batch["chosen_attention_mask"], batch["chosen_labels"])
    r = sequence_logps(model, batch["rejected_input_ids"], batch["rejected_attention_mask"], batch["rejected_labels"])
    return c, r


def _reference_logps(model: Any, features: list[dict], pad: int, batch_size: int) -> None:
    for f, (c, r) in zip(features, _policy_logps(model, features, pad, batch_size)):
        f["ref_chosen"], f["ref_rejected"] = float(c), float(r)


def _policy_logps(model: Any, feats: list[dict], pad: int, batch_size: int) -> list[tuple[float, float]]:
    """(log p(chosen), log p(rejected)) per pair, in eval mode, without gradients."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[tuple[float, float]] = []
    with torch.no_grad():
        for i in range(0, len(feats), batch_size):
            chunk = [{k: v for k, v in f.items() if not k.startswith("ref_")} for f in feats[i:i + batch_size]]
            batch = {k: v.to(device) for k, v in collate(chunk, pad).items()}
            c, r = _pair_logps(model, batch)
            out += list(zip(c.tolist(), r.tolist()))
    model.train(was_training)
    return out


def preference_margin(model: Any, tokenizer: Any, pairs: Any, *, max_length: int = 512, batch_size: int = 8) -> float:
    """Mean of log p(chosen) - log p(rejected) over ``pairs`` (higher: the model prefers the chosen answers)."""
    feats = format_preference(load_pairs(pairs), tokenizer, max_length=max_length).features
    scores = _policy_logps(model, feats, tokenizer.pad_token_id or 0, batch_size)
    return sum(c - r for c, r in scores) / len(scores)


@dataclass
class DPOResult:
    """The trained model and how its preference margin moved.

    Example::

        res = train_dpo(None, FeedbackLog("feedback.jsonl"), method="lora", max_steps=20)
        res.margin_before, res.margin_after, res.reward_accuracy
    """

    model: Any
    tokenizer: Any
    method: MethodInfo
    train: TrainResult
    margin_before: float
    margin_after: float
    reward_accuracy: float
    out: Path | None = None


def train_dpo(
    model: Any = None,
    pairs: Any = None,
    *,
    method: str = "lora",
    beta: float = 0.1,
    reference: Any = None,
    out: str | Path | None = None,
    method_options: dict[str, Any] | None = None,
    max_length: int = 512,
    system: str | None = None,
    backend: str = "augment",
    config: TrainConfig | Mapping[str, Any] | None = None,
    **train_options: Any,
) -> DPOResult:
    """DPO on preference ``pairs`` (see :func:`load_pairs`) for a causal LM.

    ``model`` as in :func:`~augment.finetune.tasks.finetune`; ``reference`` is the
    reference model (same spec forms; default: the starting model itself).
    ``backend="trl"`` trains with TRL's ``DPOTrainer`` instead of the built-in loop
    (same result fields; no augment checkpoints/resume). Training settings as in
    ``finetune()``: ``config=`` a :class:`~augment.finetune.trainer.TrainConfig` and/or
    its options as keywords (``scheduler=``, ``warmup_ratio=``, ``mixed_precision=``
    included); ``lr`` defaults to :data:`DPO_LR` of the method, ``batch_size`` to 4,
    ``checkpoint_dir`` to ``out``.
    """
    import copy

    import torch

    cfg = TrainConfig.build(config, **train_options).with_defaults(
        lr=DPO_LR.get(method), batch_size=4, checkpoint_dir=str(out) if out else None)
    if backend not in ("augment", "trl"):
        raise ConfigError(f"backend={backend!r}: use 'augment' (built-in loop) or 'trl' (TRL's DPOTrainer)")
    if not beta > 0:
        raise DataError(f"beta={beta} must be positive (0.1 is usual)")
    records = load_pairs(pairs)
    base, tokenizer = load_model_for_task(model, "instruct")
    fingerprint = base_fingerprint(base)
    fmt = format_preference(records, tokenizer, max_length=max_length, system=system)
    feats = fmt.features
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ref_model = base if reference is None else load_model_for_task(reference, "instruct")[0]
    _reference_logps(ref_model, feats, pad, cfg.batch_size)
    if backend == "trl":
        ref_model = copy.deepcopy(base).requires_grad_(False) if ref_model is base else ref_model.requires_grad_(False)
    elif ref_model is not base:
        del ref_model
    margin_before = sum(f["ref_chosen"] - f["ref_rejected"] for f in feats) / len(feats)
    if reference is not None:
        margin_before = preference_margin(base, tokenizer, records, max_length=max_length)

    def dpo_loss(m: Any, batch: dict) -> Any:
        c, r = _pair_logps(m, batch)
        logits = beta * ((c - batch["ref_chosen"]) - (r - batch["ref_rejected"]))
        return -torch.nn.functional.logsigmoid(logits).mean()

    trained, info = apply_method(base, method, task="instruct", **(method_options or {}))
    if backend == "trl":
        from augment.finetune.dpo_trl import train_with_trl

        result = train_with_trl(trained, ref_model, records, tokenizer, cfg, beta=beta, max_length=max_length, system=system)
        del ref_model
    else:
        result = train(trained, feats, config=cfg, collate_fn=lambda fs: collate(fs, pad), loss_fn=dpo_loss)
    trained.eval()
    scores = _policy_logps(trained, feats, pad, cfg.batch_size)
    total_margin = sum(c - r for c, r in scores)
    wins = sum((c - f["ref_chosen"]) > (r - f["ref_rejected"]) for (c, r), f in zip(scores, feats))
    res = DPOResult(trained, tokenizer, info, result, margin_before, total_margin / len(feats), wins / len(feats))
    if out:
        res.out = save_finetuned(trained, tokenizer, out, {
            "format": 1, "method": method, "task": "instruct", "method_options": info.options, "base": fingerprint,
            "labels": [], "trainable": info.trainable, "total": info.total, "share": info.share, "notes": info.notes,
            "metrics": {"margin_before": res.margin_before, "margin_after": res.margin_after,
                        "reward_accuracy": res.reward_accuracy, "final_loss": result.losses[-1]},
            "train": {"objective": "dpo", "backend": backend, "beta": beta, "pairs": len(feats), "steps": result.steps, **cfg.to_dict()},
        })
    return res
