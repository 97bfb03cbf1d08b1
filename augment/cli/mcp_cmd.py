"""``augment mcp``: serve augment's tools, a collection's search and answers, and the agent over MCP.

    $ augment mcp --tools calculator,now                                   # stdio
    $ augment mcp --collection docs --db ./chroma --transport http --port 9000
    $ augment mcp --tools calculator --agent                                # plus an "agent" tool (loads the model)

Over stdio nothing but the protocol is written to stdout; messages go to stderr.
"""

from __future__ import annotations

import click

__all__ = ["mcp"]


@click.command("mcp")
@click.option("--tools", "tool_names", default="calculator,now", show_default=True,
              help="Comma-separated tools to serve: built-ins or plugin tools ('' for none).")
@click.option("--tools-dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of .py files whose @tool functions are served too.")
@click.option("--collection", default=None, help="Serve 'search' (and 'answer') over this Chroma collection.")
@click.option("--db", default=None, type=click.Path(file_okay=False), help="Chroma folder of --collection.")
@click.option("--chroma-url", default=None, help="Chroma server URL (instead of --db).")
@click.option("--answer/--no-answer", default=True, show_default=True,
              help="With --collection, also serve 'answer' (cited answers from the model).")
@click.option("--agent", "with_agent", is_flag=True, help="Also serve 'agent': an augment agent with the tools above.")
@click.option("--model", "-m", default=None, help="Model spec for answer/agent (default: the embedded SmolLM2).")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1), help="Most new tokens per answer.")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP interface to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="HTTP port.")
@click.option("--path", default="/mcp", show_default=True, help="HTTP path of the MCP endpoint.")
@click.option("--name", default="augment", show_default=True, help="Server name reported to clients.")
def mcp(tool_names: str, tools_dir: str | None, collection: str | None, db: str | None, chroma_url: str | None,
        answer: bool, with_agent: bool, model: str | None, max_tokens: int, transport: str, host: str, port: int,
        path: str, name: str) -> None:
    """Serve augment over the Model Context Protocol (stdio or streamable HTTP)."""
    from augment.errors import AugmentError
    from augment.mcp_server import mcp_server, serve_http, serve_stdio
    from augment.tools import ToolRegistry

    try:
        tools = ToolRegistry.load(tool_names, tools_dir=tools_dir) if tool_names.strip() else ToolRegistry()
        llm = rag = agent = retriever = None
        if (collection and answer) or with_agent:
            from augment.cli.chat import load_llm

            click.echo(f"Loading {model or 'the embedded default model'}...", err=True)
            llm = load_llm(model)
        if collection and answer:
            from augment.cli.rag_chat import open_rag

            rag = open_rag(llm, collection, db, chroma_url, max_tokens=max_tokens)
        elif collection:
            retriever = _search_only(collection, db, chroma_url)
        if with_agent:
            from augment.agent import Agent

            agent = Agent(llm, tools, options={"max_tokens": max_tokens})
        server = mcp_server(tools, rag=rag, agent=agent, answer=answer, retriever=retriever, name=name)
        if collection:  # load the embedder now, so the first search does not pay for it (and time out)
            (retriever if retriever is not None else rag.retriever).retrieve("warm up", 1)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    names = ", ".join(server.augment_tools.names)
    if transport == "stdio":
        click.echo(f"augment MCP server on stdio; tools: {names}", err=True)
        serve_stdio(server)
    else:
        click.echo(f"augment MCP server at http://{host}:{port}{path}; tools: {names}", err=True)
        serve_http(server, host=host, port=port, path=path)


def _search_only(collection: str, db: str | None, chroma_url: str | None) -> object:
    """The default hybrid retriever over an existing collection (no model needed)."""
    from augment.errors import StoreError
    from augment.retrieval.retriever import hybrid_retriever
    from augment.retrieval.store import ChromaStore

    store = ChromaStore(collection, path=db, url=chroma_url, create=False)
    if store.count() == 0:
        raise StoreError(f"Collection {collection!r} in {store.location} is empty. "
                         f"Add documents with: augment ingest PATH --collection {collection}")
    return hybrid_retriever(store)
