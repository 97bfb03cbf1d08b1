"""``augment finetune``: train a model (full, LoRA, prompt tuning, BitFit, adapters; or DPO) from a data file."""

from __future__ import annotations

import json

import click

from augment.errors import AugmentError

__all__ = ["finetune"]

METHODS = ("full", "lora", "prompt_tuning", "bitfit", "adapter")
TASKS = ("instruct", "chat", "classify", "token_classify", "seq2seq", "dpo")


def _parse_options(pairs: tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. r=16 or target_modules=q_proj,v_proj)", param_hint="--option")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value.split(",") if "," in value else value
    return out


@click.command("finetune")
@click.option("--model", default=None, help="Base model: a folder, a .gguf file, hf:org/name (local cache), or default.")
@click.option("--method", type=click.Choice(METHODS), default="lora", show_default=True)
@click.option("--task", type=click.Choice(TASKS), default="instruct", show_default=True,
              help="dpo trains on prompt/chosen/rejected pairs or a FeedbackLog jsonl.")
@click.option("--data", required=True, type=click.Path(), help="Training data: .jsonl/.json/.csv/.parquet or a datasets folder.")
@click.option("--eval-data", default=None, type=click.Path(), help="Held-out data (default: --test-size of --data).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (adapter or model + augment_finetune.json).")
@click.option("--epochs", default=1, show_default=True, type=int)
@click.option("--max-steps", default=None, type=int, help="Stop after this many optimizer steps.")
@click.option("--lr", default=None, type=float, help="Learning rate (default depends on the method).")
@click.option("--batch-size", default=None, type=int, help="Examples per step [default: 8; 4 for dpo].")
@click.option("--grad-accum", default=1, show_default=True, type=int, help="Gradient accumulation steps.")
@click.option("--gradient-checkpointing", is_flag=True, help="Recompute activations: less memory, more compute.")
@click.option("--max-length", default=512, show_default=True, type=int, help="Longer examples are truncated (and counted).")
@click.option("--test-size", default=0.1, show_default=True, type=float)
@click.option("--labels", default=None, help="Comma-separated label set (classification tasks).")
@click.option("--early-stopping", "patience", default=None, type=int, help="Stop after N epochs without eval improvement.")
@click.option("--save-every", default=None, type=int, help="Checkpoint every N steps (always at epoch ends); rerun to resume.")
@click.option("--no-resume", is_flag=True, help="Ignore an existing checkpoint in --out.")
@click.option("--beta", default=0.1, show_default=True, type=float, help="DPO beta (task dpo).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--scheduler", default="linear", show_default=True,
              type=click.Choice(["linear", "cosine", "constant", "constant_with_warmup"]), help="Learning-rate schedule.")
@click.option("--warmup-ratio", default=0.0, show_default=True, type=float, help="Share of the steps spent warming up.")
@click.option("--mixed-precision", default="no", show_default=True, type=click.Choice(["no", "bf16", "fp16", "auto"]),
              help="bf16 autocast (GPUs, CPUs with native bf16); fp16 on GPUs; auto: bf16 where it is native.")
@click.option("--option", "options", multiple=True, help="Method option KEY=VALUE, e.g. r=16, alpha=32, bottleneck=32 (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def finetune(model, method, task, data, eval_data, out, epochs, max_steps, lr, batch_size, grad_accum, gradient_checkpointing, max_length,
             test_size, labels, patience, save_every, no_resume, beta, seed, scheduler, warmup_ratio, mixed_precision,
             options, quiet):
    """Fine-tune a model and save the result to --out.

    Example: augment finetune --method lora --task instruct --data train.jsonl --out adapters/fmt --epochs 2

    Then: augment eval --adapter adapters/fmt --data test.jsonl --metric exact_match
    """
    from augment.finetune.trainer import TrainConfig

    method_options = _parse_options(options)
    given = {"lr": lr, "batch_size": batch_size}  # None: the method's / task's default
    try:
        config = TrainConfig(epochs=epochs, max_steps=max_steps, grad_accum=grad_accum, early_stopping_patience=patience,
                             save_every=save_every, resume=not no_resume, seed=seed, progress=not quiet,
                             scheduler=scheduler, warmup_ratio=warmup_ratio, mixed_precision=mixed_precision,
                             **{k: v for k, v in given.items() if v is not None})
        if task == "dpo":
            from augment.finetune.dpo import train_dpo

            res = train_dpo(model, data, method=method, beta=beta, out=out, method_options=method_options,
                            max_length=max_length, config=config)
            click.echo(str(res.method))
            summary = {"method": method, "task": task, "steps": res.train.steps, "margin_before": res.margin_before,
                       "margin_after": res.margin_after, "reward_accuracy": res.reward_accuracy, "out": str(res.out)}
        else:
            from augment.finetune.tasks import finetune as run

            res = run(model, data, task=task, method=method, out=out, eval_data=eval_data, test_size=test_size,
                      labels=[x.strip() for x in labels.split(",")] if labels else None, max_length=max_length,
                      method_options=method_options, gradient_checkpointing=gradient_checkpointing, config=config)
            click.echo(str(res.summary))
            click.echo(str(res.method))
            for note in res.method.notes:
                click.echo(f"note: {note}")
            summary = {"method": method, "task": task, "trainable": res.method.trainable, "share": res.method.share,
                       **res.metrics, "out": str(res.out)}
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"saved to {out}")
    click.echo(json.dumps(summary, default=str))
