"""DPO through TRL's ``DPOTrainer`` (``train_dpo(..., backend="trl")``).

Same inputs and result as the built-in loop; TRL brings its own logging and
loss variants. The reference model is passed explicitly (a frozen copy of the
starting model, or ``reference=``), which also works for models built in
memory that have no hub path.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Sequence

from augment.errors import MissingDependencyError
from augment.finetune.trainer import TrainConfig, TrainResult

__all__ = ["train_with_trl"]


def train_with_trl(model: Any, ref_model: Any, records: Sequence[dict], tokenizer: Any, cfg: TrainConfig, *,
                   beta: float, max_length: int, system: str | None = None) -> TrainResult:
    """Run ``trl.DPOTrainer`` on conversational (prompt, chosen, rejected) records; returns a :class:`TrainResult`."""
    try:
        import torch
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer
    except ImportError as e:
        raise MissingDependencyError("trl", "pip install 'augment[finetune]'", purpose="train_dpo(backend='trl')") from e

    head = [{"role": "system", "content": system}] if system else []
    rows = [{"prompt": head + [{"role": "user", "content": str(r["prompt"])}],
             "chosen": [{"role": "assistant", "content": str(r["chosen"])}],
             "rejected": [{"role": "assistant", "content": str(r["rejected"])}]} for r in records]
    args = DPOConfig(
        output_dir=cfg.checkpoint_dir or tempfile.mkdtemp(prefix="augment_dpo_"), beta=beta,
        learning_rate=cfg.lr, per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_steps=cfg.max_steps or -1, num_train_epochs=cfg.epochs, lr_scheduler_type=cfg.scheduler,
        warmup_steps=int(cfg.warmup_ratio * cfg.max_steps) if cfg.max_steps else 0, seed=cfg.seed, max_length=max_length, logging_steps=1, save_strategy="no",
        report_to=[], disable_tqdm=not cfg.progress, use_cpu=not torch.cuda.is_available(),
    )
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return TrainResult(steps=trainer.state.global_step, losses=losses, history=list(trainer.state.log_history),
                       seconds=time.perf_counter() - start)
