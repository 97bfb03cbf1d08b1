"""``augment serve``: an OpenAI-compatible HTTP API over any augment model."""

from __future__ import annotations

import click

__all__ = ["serve"]


@click.command(name="serve")
@click.option("--model", "-m", default=None, help="Model spec for load_llm (default: the embedded default model; "
              "'hf:org/name', a folder, a .gguf file or 'openai:model').")
@click.option("--adapter", default=None, type=click.Path(exists=True), help="A LoRA/PEFT adapter folder to load.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one).")
@click.option("--name", default=None, help="Model id to report in /v1/models (default: the model's name).")
@click.option("--verbose", "-v", is_flag=True, help="Log every request.")
def serve(model: str | None, adapter: str | None, host: str, port: int, name: str | None, verbose: bool) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (GET /v1/models, POST /v1/chat/completions).

    Any OpenAI client works against it, e.g. augment's own
    load_llm("openai:NAME", base_url="http://127.0.0.1:8000/v1").
    """
    from augment.errors import AugmentError
    from augment.llm.loader import load_llm
    from augment.serve import make_server

    try:
        kwargs = {"adapter": adapter} if adapter else {}
        click.echo(f"Loading {model or 'the embedded default model'}...", err=True)
        llm = load_llm(model, **kwargs)
        server = make_server(llm, host=host, port=port, model_name=name, verbose=verbose)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Serving {server.model_name} at {server.url} (OpenAI-compatible). Press Ctrl+C to stop.", err=True)
    click.echo(server.url, err=False)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        server.server_close()
