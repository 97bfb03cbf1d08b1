"""The ``augment`` command line.

Each command lives in its own module and is imported only when it runs, so
``augment --help`` is instant. ``augment --help`` lists every command.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

# command name -> ("module:attribute", one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("augment.cli.chat_cmd:chat", "Chat interactively with a model (optionally over a collection)."),
    "ask": ("augment.cli.chat_cmd:ask", "Ask one question and print the answer (optionally with cited sources)."),
    "ingest": ("augment.cli.rag_cmd:ingest", "Ingest files or folders into a Chroma collection."),
    "collections": ("augment.cli.rag_cmd:collections", "List the collections of a Chroma store."),
    "agent": ("augment.cli.agent_cmd:agent", "Run a tool-using agent on a task, printing each step."),
    "finetune": ("augment.cli.finetune_cmd:finetune", "Fine-tune a model (full, LoRA, prompt tuning, BitFit, adapters)."),
    "eval": ("augment.cli.eval_cmd:eval_cmd", "Evaluate a model (optionally with an adapter) on a dataset."),
    "serve": ("augment.cli.serve_cmd:serve", "Serve a model over an OpenAI-compatible HTTP API."),
    "sessions": ("augment.cli.sessions_cmd:sessions", "List, show or delete saved conversations (--session NAME)."),
    "mcp": ("augment.cli.mcp_cmd:mcp", "Serve augment's tools, a collection's search and the agent over MCP."),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module, attr = target.split(":")
        return _with_trace_option(getattr(importlib.import_module(module), attr))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _start_tracing(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if not value:
        return
    from augment.errors import AugmentError
    from augment.tracing import configure_tracing

    try:
        provider = configure_tracing(None if value == "otlp" else value, otlp=value == "otlp")
    except AugmentError as e:
        raise click.BadParameter(str(e)) from None
    ctx.call_on_close(provider.force_flush)  # not shutdown: the provider is global and may serve the caller too


def _with_trace_option(command: click.Command) -> click.Command:
    """Give every command ``--trace FILE`` (OpenTelemetry spans as JSON lines; ``--trace otlp``: OTLP export)."""
    if not any(p.name == "trace" for p in command.params):
        command.params.append(click.Option(
            ["--trace"], metavar="FILE|otlp", expose_value=False, is_eager=True, callback=_start_tracing,
            help="Write OpenTelemetry spans as JSON lines to FILE ('otlp': export to OTEL_EXPORTER_OTLP_ENDPOINT). "
                 "Set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true to record prompts and tool arguments."))
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="augment")
def main() -> None:
    """augment: LLMs with retrieval, tools, prompting and fine-tuning, offline-first."""


if __name__ == "__main__":  # pragma: no cover
    main()
