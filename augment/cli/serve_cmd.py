"""``augment serve``: an OpenAI-compatible HTTP API and a chat page over any augment model.

    augment serve                                        # the embedded default model on 127.0.0.1:8000
    augment serve --collection docs                      # RAG over a collection (sources + citations)
    augment serve --agent --tools calculator,now         # a tool-using agent, steps streamed
    augment serve --api-key "$KEY" --host 0.0.0.0        # require 'Authorization: Bearer KEY'
"""

from __future__ import annotations

import os

import click

__all__ = ["serve"]


@click.command(name="serve")
@click.option("--model", "-m", default=None, help="Model spec for load_llm (default: the embedded default model; "
              "'hf:org/name', a folder, a .gguf file or 'openai:model').")
@click.option("--adapter", default=None, type=click.Path(exists=True), help="A LoRA/PEFT adapter folder to load.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one).")
@click.option("--name", default=None, help="Model id to report in /v1/models (default: the model's name).")
@click.option("--collection", default=None, help="RAG mode: answer from this Chroma collection, with cited sources.")
@click.option("--db", default=None, type=click.Path(file_okay=False), help="Folder of the embedded Chroma store (RAG mode).")
@click.option("--chroma-url", default=None, metavar="URL", help="A Chroma server instead of --db (RAG mode).")
@click.option("--agent", "agent_mode", is_flag=True, help="Agent mode: the model calls --tools; steps are streamed.")
@click.option("--tools", "tool_names", default="calculator,now", show_default=True,
              help="Agent mode: comma-separated tool names (built-ins or plugins).")
@click.option("--tools-dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Agent mode: a folder of .py files whose @tool functions become available.")
@click.option("--max-steps", default=6, show_default=True, type=click.IntRange(min=1), help="Agent mode: most model calls.")
@click.option("--api-key", default=None, envvar="AUGMENT_API_KEY",
              help="Require 'Authorization: Bearer KEY' on /v1/* [env: AUGMENT_API_KEY].")
@click.option("--feedback", default=".augment/feedback.jsonl", show_default=True, type=click.Path(dir_okay=False),
              help="The jsonl file the chat page's thumbs up/down are appended to ('' turns it off).")
@click.option("--max-body", default=1_000_000, show_default=True, type=click.IntRange(min=1024),
              help="Largest request body in bytes (413 above).")
@click.option("--read-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds to receive a request body (408 after).")
@click.option("--write-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a stream waits on a client that stopped reading before it ends that stream.")
@click.option("--batch-window-ms", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Milliseconds to wait for more requests to batch with the first one.")
@click.option("--max-batch", default=16, show_default=True, type=click.IntRange(min=1), help="Most requests in one batch.")
@click.option("--verbose", "-v", is_flag=True, help="Log every request.")
def serve(model: str | None, adapter: str | None, host: str, port: int, name: str | None, collection: str | None,
          db: str | None, chroma_url: str | None, agent_mode: bool, tool_names: str, tools_dir: str | None,
          max_steps: int, api_key: str | None, feedback: str, max_body: int, read_timeout: float,
          write_timeout: float, batch_window_ms: float, max_batch: int, verbose: bool) -> None:
    """Serve a model over an OpenAI-compatible HTTP API, with a chat page at http://HOST:PORT/.

    Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/embeddings, GET /health.
    Any OpenAI client works against it, e.g. openai.OpenAI(base_url="http://127.0.0.1:8000/v1",
    api_key="unused") or augment's own load_llm("openai:NAME", base_url="http://127.0.0.1:8000/v1").
    """
    from augment.errors import AugmentError
    from augment.llm.loader import load_llm
    from augment.serve import Limits, make_server

    if collection and agent_mode:
        raise click.UsageError("Give --collection (RAG mode) or --agent, not both.")
    try:
        kwargs = {"adapter": adapter} if adapter else {}
        click.echo(f"Loading {model or 'the embedded default model'}...", err=True)
        llm = load_llm(model, **kwargs)
        rag = agent = None
        if collection:
            from augment.cli.rag_chat import open_rag

            rag = open_rag(llm, collection, db=db, chroma_url=chroma_url)
        if agent_mode:
            from augment.agent import Agent
            from augment.tools import ToolRegistry

            agent = Agent(llm, ToolRegistry.load(tool_names, tools_dir=tools_dir), max_steps=max_steps)
        server = make_server(llm, host=host, port=port, model_name=name, verbose=verbose, rag=rag, agent=agent,
                             api_key=api_key, feedback=feedback or None,
                             limits=Limits(max_body, read_timeout, write_timeout),
                             batch_window=batch_window_ms / 1000, max_batch=max_batch)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    mode = f"RAG over {collection!r}" if rag else "agent with " + ", ".join(agent.tools.names) if agent else "chat"
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        click.echo(f"Warning: serving on {host} without --api-key: anyone who can reach it can use it.", err=True)
    click.echo(f"Serving {server.model_name} ({mode}) at {server.url} (OpenAI-compatible); "
               f"chat page: {server.base}/ . Press Ctrl+C to stop.", err=True)
    click.echo(server.url, err=False)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        click.echo("Stopped.", err=True)
