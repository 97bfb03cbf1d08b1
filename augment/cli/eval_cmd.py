"""``augment eval``: score a model (optionally with a LoRA adapter) on a jsonl/json/csv dataset."""

from __future__ import annotations

import json
from pathlib import Path

import click

from augment.errors import AugmentError

__all__ = ["eval_cmd"]


@click.command("eval")
@click.option("--model", "model", default=None, help="Model spec for load_llm (default: the embedded SmolLM2).")
@click.option("--adapter", default=None, help="Path of a LoRA/PEFT adapter to load on the model.")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Test set: .jsonl, .json or .csv.")
@click.option("--metric", "metrics", multiple=True, default=("accuracy",), show_default=True,
              help="accuracy, f1, entity_f1, exact_match, token_f1, rouge, perplexity (repeatable).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the JSON report (metrics + predictions) here.")
@click.option("--template", default=None,
              help="A prompt template (a file in [role] text format, or a packaged name like 'qa'); items fill its variables.")
@click.option("--input-key", default=None, help="Input column (default: input/question/prompt/instruction/text).")
@click.option("--target-key", default=None, help="Reference column (default: output/answer/label/target/...).")
@click.option("--labels", default=None, help="Comma-separated label set: free text is mapped to the first label it mentions.")
@click.option("--max-tokens", default=64, show_default=True, type=int, help="Max new tokens per answer.")
@click.option("--limit", default=None, type=int, help="Score only the first N items.")
def eval_cmd(model, adapter, data, metrics, out, template, input_key, target_key, labels, max_tokens, limit):
    """Evaluate a model (optionally with an adapter) on a dataset and print the metrics.

    Example: augment eval --data test.jsonl --metric f1 --labels positive,negative --out report.json
    """
    from augment.eval import evaluate
    from augment.eval.metrics import check_metric_names

    try:
        check_metric_names(metrics)
    except AugmentError as e:
        raise click.BadParameter(str(e), param_hint="--metric") from None
    if not Path(data).is_file():
        raise click.BadParameter(f"{data} does not exist", param_hint="--data")
    try:
        from augment.cli._common import load_llm

        kwargs = {"adapter": adapter} if adapter else {}
        llm = load_llm(model, **kwargs)
        program = llm
        if template:
            from augment.prompts import PromptTemplate, TEMPLATE_NAMES, load_template

            program = load_template(template) if template in TEMPLATE_NAMES else PromptTemplate.from_file(template)
        report = evaluate(
            program, data, list(metrics), out, llm=llm, input_key=input_key, target_key=target_key,
            labels=[x.strip() for x in labels.split(",") if x.strip()] if labels else None,
            limit=limit, max_tokens=max_tokens,
        )
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(report))
    if out:
        click.echo(f"report written to {out}")
    click.echo(json.dumps(report.metrics))
