"""A small, explicit training loop on accelerate.

Progress bar, gradient accumulation, learning-rate schedule, evaluation each
epoch, early stopping, checkpoints that resume after an interruption, seeded
reproducibility. It runs through ``accelerate.Accelerator`` so the same code
runs on CPU, one GPU or (launched with ``accelerate launch``) several GPUs:
each process takes its share of every batch.

Resuming: with ``checkpoint_dir`` set, a checkpoint (trainable weights,
optimizer, scheduler, data position, random state) is written every
``save_every`` optimizer steps, at the end of each epoch and when training is
interrupted (Ctrl-C). Calling :func:`train` again with the same settings
continues from it and ends with the same weights as an uninterrupted run.
The checkpoint is removed once training completes.

>>> TrainConfig(epochs=2, lr=1e-4).batch_size
8
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from augment.errors import ConfigError, DataError

__all__ = ["TrainConfig", "TrainResult", "train"]

log = logging.getLogger("augment.finetune")


class TrainConfig(BaseModel):
    """Training settings, validated (unknown keys and bad values raise :class:`ConfigError`).

    The one declaration of the training options: :func:`train`,
    :func:`~augment.finetune.tasks.finetune`, :func:`~augment.finetune.dpo.train_dpo`
    and ``augment finetune`` all take it. ``max_steps`` (optimizer steps)
    overrides ``epochs`` when set. ``lr``: when not given, ``finetune()`` and
    ``train_dpo()`` pick the method's default. ``mixed_precision``: ``"bf16"``
    runs forward and backward under bfloat16 autocast (weights and optimizer
    stay float32): faster on GPUs and CPUs with native bf16; ``"auto"`` picks
    bf16 where the hardware computes it natively (a CUDA GPU with bf16, a CPU
    with AMX or AVX512-BF16) and ``"no"`` elsewhere.

    >>> TrainConfig(max_steps=100, batch_size=4, grad_accum=4, scheduler="cosine", warmup_ratio=0.1).lr
    0.0002
    >>> try:
    ...     TrainConfig(lrr=1e-4)
    ... except ConfigError as e:
    ...     print(str(e).split(";")[0])
    bad training option: lrr: Extra inputs are not permitted
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(1, ge=1)
    max_steps: Optional[int] = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    max_grad_norm: Optional[float] = Field(1.0, gt=0)
    early_stopping_patience: Optional[int] = Field(None, ge=1)
    checkpoint_dir: Optional[str] = None
    save_every: Optional[int] = Field(None, ge=1)
    resume: bool = True
    seed: int = 0
    progress: bool = True
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"

    def __init__(self, **options: Any) -> None:
        if isinstance(options.get("checkpoint_dir"), os.PathLike):
            options["checkpoint_dir"] = os.fspath(options["checkpoint_dir"])
        try:
            super().__init__(**options)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in e.errors())
            names = ", ".join(type(self).model_fields)
            if any(err["type"] == "extra_forbidden" for err in e.errors()):
                problems += f"; the options are: {names}"
            raise ConfigError(f"bad training option: {problems}") from None

    @classmethod
    def build(cls, config: "TrainConfig | Mapping[str, Any] | None" = None, **options: Any) -> "TrainConfig":
        """A config from ``config`` (a TrainConfig or a dict) with ``options`` on top; remembers which were given."""
        if config is None:
            base: dict[str, Any] = {}
        elif isinstance(config, TrainConfig):
            base = config.model_dump(exclude_unset=True)
        elif isinstance(config, Mapping):
            base = dict(config)
        else:
            raise ConfigError(f"config must be a TrainConfig or a dict of its options, got {type(config).__name__}")
        return cls(**{**base, **options})

    def with_defaults(self, **defaults: Any) -> "TrainConfig":
        """This config with ``defaults`` (those not None) applied to the options that were not given."""
        return type(self).build(self, **{k: v for k, v in defaults.items()
                                         if v is not None and k not in self.model_fields_set})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass
class TrainResult:
    """What happened: optimizer steps, per-step losses, per-epoch history.

    >>> TrainResult(steps=4, losses=[2.0, 1.5, 1.2, 1.0], seconds=8.0).seconds_per_step
    2.0
    """

    steps: int
    losses: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_eval_loss: float | None = None
    stopped_early: bool = False
    resumed_from_step: int | None = None
    seconds: float = 0.0

    @property
    def seconds_per_step(self) -> float:
        done = self.steps - (self.resumed_from_step or 0)
        return self.seconds / done if done else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds_per_step"] = self.seconds_per_step
        return d


def default_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The model's own loss (``labels`` in the batch)."""
    return model(**batch).loss


def target_token_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The causal-LM loss of :func:`default_loss`, computing logits only where ``labels`` are learned.

    The output layer of a small model is a large share of its compute (SmolLM2:
    576 x 49,152 per token) and the full logits of a batch are hundreds of MB,
    while instruction and chat tuning learn a few dozen answer tokens per
    sequence. Same value as ``model(**batch).loss`` (mean cross-entropy over
    the tokens whose label is not -100), about a quarter less time per step.
    Works for models whose decoder body and output layer can be called
    separately (LoRA, full, BitFit, bottleneck adapters); not for prompt tuning.
    """
    import torch.nn.functional as F

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    body, head = lm.get_decoder(), lm.get_output_embeddings()
    hidden = body(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    logits = head(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, labels[keep])


IGNORE_INDEX = -100


def _trainable_state(model: Any) -> dict[str, Any]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_trainable(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    missing = [n for n in state if n not in params]
    if missing:
        raise ConfigError(f"checkpoint does not match this model (unknown parameters {missing[:3]}); delete the checkpoint or pass resume=False")
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def resolve_precision(mixed_precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` where bfloat16 is native (CUDA with bf16, AMX / AVX512-BF16 CPUs), else ``"no"``.

    On CPU ``$AUGMENT_CPU_DTYPE`` overrides the choice (see :mod:`augment._cpu`)."""
    if mixed_precision != "auto":
        return mixed_precision
    import torch

    from augment._cpu import fast_cpu_dtype

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if fast_cpu_dtype() == "bfloat16" else "no"  # by the CPU, or $AUGMENT_CPU_DTYPE


def train(
    model: Any,
    train_features: Sequence[dict[str, Any]],
    *,
    config: TrainConfig | Mapping[str, Any] | None = None,
    eval_features: Sequence[dict[str, Any]] | None = None,
    collate_fn: Callable[[list], dict],
    loss_fn: Callable[[Any, dict], Any] = default_loss,
    eval_fn: Callable[[Any], dict[str, float]] | None = None,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
) -> TrainResult:
    """Train the parameters of ``model`` that have ``requires_grad``.

    ``callbacks`` get a dict (step, epoch, loss, lr) after each optimizer step.
    ``eval_fn(model)`` adds metrics to each epoch's history entry.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    cfg = TrainConfig.build(config)
    if not train_features:
        raise DataError("the training set is empty; give at least one example")
    set_seed(cfg.seed)
    precision = resolve_precision(cfg.mixed_precision)
    try:
        acc = Accelerator(mixed_precision=precision)
    except ValueError:  # another trainer (e.g. TRL's) set up accelerate differently in this process
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
        acc = Accelerator(mixed_precision=precision)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("no parameter of the model requires grad; apply a method first (apply_method)")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    n = len(train_features)
    batches_per_epoch = math.ceil(n / cfg.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum)
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    scheduler = get_scheduler(cfg.scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    model, optimizer, scheduler = acc.prepare(model, optimizer, scheduler)
    raw = acc.unwrap_model(model)

    fingerprint = {"n": n, "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "total_steps": total_steps,
                   "seed": cfg.seed, "trainable": sum(p.numel() for p in params)}
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "losses": [], "history": [],
                             "best": None, "bad_epochs": 0}
    ckpt = Path(cfg.checkpoint_dir) / "checkpoint" if cfg.checkpoint_dir else None
    resumed_from = None
    if ckpt and cfg.resume and (ckpt / "state.json").exists():
        saved = json.loads((ckpt / "state.json").read_text())
        if saved["fingerprint"] != fingerprint:
            raise ConfigError(
                f"the checkpoint in {ckpt} was made with other settings ({saved['fingerprint']} vs {fingerprint}); "
                "delete it or pass resume=False to start over"
            )
        state = saved["state"]
        _load_trainable(raw, torch.load(ckpt / "trainable.pt", weights_only=True))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
        torch.set_rng_state(torch.load(ckpt / "rng.pt", weights_only=False))
        resumed_from = state["step"]
        log.info("resuming from step %d of %d (%s)", resumed_from, total_steps, ckpt)
    rng_at_step = torch.get_rng_state()
    best_weights = None

    def save_checkpoint() -> None:
        if ckpt is None or not acc.is_main_process:
            return
        tmp = ckpt.with_name("checkpoint.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(_trainable_state(raw), tmp / "trainable.pt")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_at_step, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps({"fingerprint": fingerprint, "state": state}))
        shutil.rmtree(ckpt, ignore_errors=True)
        os.replace(tmp, ckpt)

    def evaluate_loss() -> float | None:
        if not eval_features:
            return None
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(eval_features), cfg.batch_size):
                chunk = list(eval_features[i:i + cfg.batch_size])
                batch = {k: v.to(acc.device) for k, v in collate_fn(chunk).items()}
                total += float(loss_fn(model, batch).detach()) * len(chunk)
                count += len(chunk)
        model.train()
        return total / count

    start = time.perf_counter()
    bar = None
    if cfg.progress and acc.is_main_process:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=state["step"], desc="fine-tuning", unit="step")
    model.train()
    stopped_early = False
    try:
        while state["step"] < total_steps and state["epoch"] < n_epochs:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + state["epoch"])).tolist()
            batches = [perm[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
            micro, running = 0, 0.0
            for bi in range(state["batch"], len(batches)):
                ids = batches[bi][acc.process_index::acc.num_processes] or batches[bi][:1]
                batch = {k: v.to(acc.device) for k, v in collate_fn([train_features[j] for j in ids]).items()}
                with acc.autocast():
                    loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise DataError(f"the loss became {float(loss)} at step {state['step']}; lower lr or check the data")
                acc.backward(loss / cfg.grad_accum)
                running += float(loss.detach())
                micro += 1
                if micro == cfg.grad_accum or bi == len(batches) - 1:
                    if cfg.max_grad_norm:
                        acc.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    state["step"] += 1
                    state["batch"] = bi + 1
                    state["losses"].append(running / micro)
                    rng_at_step = torch.get_rng_state()
                    info = {"step": state["step"], "epoch": state["epoch"], "loss": running / micro,
                            "lr": scheduler.get_last_lr()[0]}
                    micro, running = 0, 0.0
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{info['loss']:.4f}")
                    if cfg.save_every and state["step"] % cfg.save_every == 0:
                        save_checkpoint()
                    for cb in callbacks:
                        cb(info)
                    if state["step"] >= total_steps:
                        break
            # end of epoch: evaluate, early stopping, checkpoint
            entry: dict[str, Any] = {"epoch": state["epoch"], "step": state["step"],
                                     "train_loss": state["losses"][-1] if state["losses"] else None}
            eval_loss = evaluate_loss()
            if eval_loss is not None:
                entry["eval_loss"] = eval_loss
            if eval_fn is not None:
                entry.update(eval_fn(raw))
            state["history"].append(entry)
            state["epoch"] += 1
            state["batch"] = 0
            if eval_loss is not None and cfg.early_stopping_patience is not None:
                if state["best"] is None or eval_loss < state["best"]:
                    state["best"], state["bad_epochs"] = eval_loss, 0
                    best_weights = _trainable_state(raw)
                else:
                    state["bad_epochs"] += 1
                    if state["bad_epochs"] >= cfg.early_stopping_patience:
                        stopped_early = True
            elif eval_loss is not None and (state["best"] is None or eval_loss < state["best"]):
                state["best"] = eval_loss
            if stopped_early:
                log.info("early stopping after epoch %d: eval loss did not improve for %d epochs",
                         state["epoch"], cfg.early_stopping_patience)
                break
            if state["step"] < total_steps:
                save_checkpoint()
    except KeyboardInterrupt:
        save_checkpoint()
        if ckpt is not None:
            log.warning("training interrupted at step %d; checkpoint saved in %s - run again to resume", state["step"], ckpt)
        raise
    finally:
        if bar is not None:
            bar.close()
    if best_weights is not None and stopped_early:
        _load_trainable(raw, best_weights)
    if ckpt is not None and acc.is_main_process:
        shutil.rmtree(ckpt, ignore_errors=True)
    return TrainResult(
        steps=state["step"], losses=state["losses"], history=state["history"], best_eval_loss=state["best"],
        stopped_early=stopped_early, resumed_from_step=resumed_from, seconds=time.perf_counter() - start,
    )
