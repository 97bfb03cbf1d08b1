"""``augment eval``: score a model on a dataset; ``augment eval rag`` / ``augment eval agent`` on your own data.

    augment eval --data test.jsonl --metric accuracy                 # a model (optionally with --adapter)
    augment eval rag manual/ qa.jsonl --k 5 --out rag.json           # a RAG chatbot over your documents
    augment eval agent tasks.jsonl --tools my_tools.py --out agent.json
    augment eval agent tasks.jsonl --no-adapter                      # the default model without its adapter
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from augment.cli._common import model_option, reader_option
from augment.errors import AugmentError

__all__ = ["eval_cmd"]


@click.group("eval", invoke_without_command=True)
@click.option("--model", "model", default=None, help="Model spec for load_llm (default: the embedded SmolLM2).")
@click.option("--adapter", default=None, help="Path of a LoRA/PEFT adapter to load on the model.")
@click.option("--data", default=None, type=click.Path(dir_okay=False), help="Test set: .jsonl, .json or .csv.")
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
@click.pass_context
def eval_cmd(ctx, model, adapter, data, metrics, out, template, input_key, target_key, labels, max_tokens, limit):
    """Evaluate a model (optionally with an adapter) on a dataset and print the metrics.

    Example: augment eval --data test.jsonl --metric f1 --labels positive,negative --out report.json

    On your own documents or tools: `augment eval rag DOCS QA.jsonl` and
    `augment eval agent TASKS.jsonl --tools my_tools.py` (see their --help).
    """
    if ctx.invoked_subcommand is not None:
        if data is not None:
            raise click.UsageError(f"--data is for `augment eval --data FILE`; `augment eval {ctx.invoked_subcommand}` "
                                   "takes its files as arguments")
        return
    if data is None:
        raise click.UsageError("give --data FILE to score a model on a dataset, or use a subcommand: "
                               "`augment eval rag DOCS QA.jsonl` or `augment eval agent TASKS.jsonl`")
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


def _model_options(fn):  # type: ignore[no-untyped-def]
    """--model / --adapter / --no-adapter, shared by the rag and agent subcommands."""
    fn = click.option("--no-adapter", is_flag=True,
                      help="Load the model without the adapter it loads by default (load_llm(adapter=None)).")(fn)
    fn = click.option("--adapter", default=None, help="Path of a LoRA/PEFT adapter to load on the model.")(fn)
    return model_option(fn)


def _load_model(model, adapter, no_adapter):  # type: ignore[no-untyped-def]
    from augment.cli._common import load_llm

    if adapter and no_adapter:
        raise click.UsageError("give --adapter PATH or --no-adapter, not both")
    if no_adapter:
        return load_llm(model, adapter=None)
    return load_llm(model, adapter=adapter) if adapter else load_llm(model)


def _finish(report, out):  # type: ignore[no-untyped-def]
    click.echo(str(report))
    if out:
        click.echo(f"report written to {out}")
    click.echo(json.dumps(report.metrics))


@eval_cmd.command("rag")
@click.argument("docs", type=click.Path(exists=True, file_okay=False))
@click.argument("qa", type=click.Path(exists=True, dir_okay=False))
@click.option("--k", default=5, show_default=True, type=click.IntRange(min=1), help="Sources retrieved per question.")
@click.option("--retriever", default="hybrid", show_default=True, type=click.Choice(["hybrid", "dense", "bm25"]))
@click.option("--db", default=None, type=click.Path(file_okay=False),
              help="Keep the Chroma collection in this folder (reused next time) [default: a temporary folder].")
@_model_options
@click.option("--max-tokens", default=None, type=click.IntRange(min=1), help="Max new tokens per answer [default: RAG's].")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Ask only N questions (answerable and not, mixed).")
@reader_option
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the JSON report (metrics + one row per question).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def eval_rag(docs, qa, k, retriever, db, model, adapter, no_adapter, max_tokens, limit, reader, out, quiet):  # type: ignore[no-untyped-def]
    """Evaluate a RAG chatbot over the documents of DOCS on the questions of QA (JSONL).

    Each QA line: {"question": ..., "answer": "span in the document", "source": "file.md"}
    or {"question": ..., "answerable": false}. Reports retrieval hit@k and nDCG@k, answers holding
    the span, citation precision, abstentions on unanswerable questions and seconds per answer.
    """
    from augment.eval.rag_eval import evaluate_rag

    try:
        llm = _load_model(model, adapter, no_adapter)
        options = {"max_tokens": max_tokens} if max_tokens else {}
        options["reader"] = reader
        report = evaluate_rag(docs, qa, llm, k=k, store_dir=db, retriever=retriever, limit=limit, report=out,
                              progress=not quiet, **options)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    _finish(report, out)


@eval_cmd.command("agent")
@click.argument("tasks", type=click.Path(exists=True, dir_okay=False))
@click.option("--tools", "tools", default=None,
              help="A .py file (or folder) of @tool functions, or built-in names like calculator,now "
                   "[default: calculator,python,http_get,now].")
@click.option("--pages", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder served on 127.0.0.1 as {url} in the tasks (for http_get tasks).")
@_model_options
@click.option("--max-steps", default=4, show_default=True, type=click.IntRange(min=1), help="Most model calls per task.")
@click.option("--max-tokens", default=96, show_default=True, type=click.IntRange(min=1), help="Most new tokens a step.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Run N tasks, taken round robin over categories.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the JSON report (metrics + one row per task).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def eval_agent(tasks, tools, pages, model, adapter, no_adapter, max_steps, max_tokens, limit, out, quiet):  # type: ignore[no-untyped-def]
    """Evaluate a tool-using agent on the tasks of TASKS (JSONL).

    Each line: {"task": ..., "expected_answer": "...", "category": "...", "expected_tool": "name" or null}.
    Reports the valid-call rate, task success overall and per category, steps and seconds per task.
    """
    from augment.eval.agent_eval import evaluate_agent

    try:
        llm = _load_model(model, adapter, no_adapter)
        report = evaluate_agent(llm, tasks, tools, max_steps=max_steps, max_tokens=max_tokens, limit=limit,
                                pages=pages, report=out, progress=not quiet)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    _finish(report, out)
