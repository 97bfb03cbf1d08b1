"""Serve augment over the Model Context Protocol: tools, a collection's search and answers, the agent.

:func:`mcp_server` builds an MCP server (the official SDK's low-level ``Server``)
from augment tools, plus, when given, a RAG pipeline's ``search`` (the retriever
as a tool) and ``answer`` (a cited answer), and an ``agent`` tool that runs an
augment :class:`~augment.agent.Agent` on a task. :func:`serve_stdio` and
:func:`serve_http` run it; ``augment mcp`` does the same from the command line:

    $ augment mcp --tools calculator,now                                  # stdio (for Claude Desktop & co.)
    $ augment mcp --collection docs --answer --transport http --port 9000   # http://127.0.0.1:9000/mcp

A failing tool becomes an MCP tool result with ``isError: true`` and the
message, never a crash of the server. Model-backed tools (answer, agent) run
one at a time: the local model is not shared between concurrent calls.

Example (in-process, with the SDK's own client)::

    import asyncio
    from mcp import Client
    from augment.mcp_server import mcp_server
    from augment.tools import builtin

    async def main():
        async with Client(mcp_server([builtin("calculator")])) as client:
            result = await client.call_tool("calculator", {"expression": "6 * 7"})
            print(result.content[0].text)                                   # 42

    asyncio.run(main())
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

from augment.errors import ConfigError, ToolError
from augment.tools import FunctionTool, Tool, ToolRegistry

__all__ = ["mcp_server", "server_tools", "serve_stdio", "serve_http", "answer_tool", "agent_tool"]


def answer_tool(rag: Any, name: str = "answer") -> Tool:
    """A tool that answers a question from ``rag``'s collection, with numbered citations and sources."""
    lock = threading.Lock()

    def answer(question: str) -> str:
        """Answer a question from the document collection, citing the passages it used as [n].

        Args:
            question: the question to answer
        """
        with lock:
            result = rag.ask(question)
        sources = result.format_sources()
        return result.answer + (f"\n\nSources:\n{sources}" if sources else "")

    return FunctionTool(answer, name=name, timeout=600)


def agent_tool(agent: Any, name: str = "agent") -> Tool:
    """A tool that runs ``agent`` on a task and returns its answer (or why it stopped)."""
    lock = threading.Lock()
    tools = ", ".join(agent.tools.names) or "no tools"

    def run_agent(task: str) -> str:
        """Solve a task step by step with an augment agent and its tools.

        Args:
            task: the task, in plain words
        """
        with lock:
            result = agent.run(task)
        if result.complete:
            return result.answer or ""
        raise ToolError(f"the agent stopped after {len(result.steps)} steps without an answer:\n{result.trace()}")

    return FunctionTool(run_agent, name=name, description=f"Solve a task step by step with an augment agent ({tools}).",
                        timeout=900)


def server_tools(tools: Iterable[Tool] | ToolRegistry | None = None, rag: Any = None, agent: Any = None,
                 answer: bool = True, search_k: int = 4, retriever: Any = None) -> ToolRegistry:
    """The registry an augment MCP server serves: ``tools``, ``search`` (``retriever`` or ``rag``'s),
    ``answer`` (``rag``, unless ``answer=False``), ``agent``."""
    from augment.tools.retrieve import Retrieve

    registry = ToolRegistry(tools.tools if isinstance(tools, ToolRegistry) else (tools or []))
    retriever = retriever if retriever is not None else getattr(rag, "retriever", None)
    if retriever is not None:
        registry.add(Retrieve(retriever, k=search_k, name="search",
                              description="Search the document collection; returns numbered passages with their sources."))
    if rag is not None and answer:
        registry.add(answer_tool(rag))
    if agent is not None:
        registry.add(agent_tool(agent))
    if not len(registry):
        raise ConfigError("the MCP server has nothing to serve; give tools, a RAG collection or an agent")
    return registry


def mcp_server(tools: Iterable[Tool] | ToolRegistry | None = None, *, rag: Any = None, agent: Any = None,
               answer: bool = True, retriever: Any = None, name: str = "augment", instructions: str | None = None) -> Any:
    """An MCP server (``mcp.server.lowlevel.Server``) serving augment tools, search over ``retriever`` (or
    ``rag``'s), RAG answers and an agent."""
    try:
        import anyio
        import mcp.types as types
        from mcp.server.lowlevel import Server
    except ImportError as e:
        from augment.errors import MissingDependencyError

        raise MissingDependencyError("mcp", "pip install 'augment[mcp]'", "serving MCP") from e
    registry = server_tools(tools, rag, agent, answer, retriever=retriever)

    def error(text: str) -> Any:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.parameters) for t in registry])

    async def call_tool(ctx: Any, params: Any) -> Any:
        if params.name not in registry:
            return error(f"unknown tool {params.name!r}; the tools are: {', '.join(registry.names)}")
        tool = registry.get(params.name)
        try:
            text = await anyio.to_thread.run_sync(tool.call, params.arguments or {})
        except ToolError as e:
            return error(str(e))
        except Exception as e:  # a tool outside augment's contract: report, keep serving
            return error(f"tool {params.name!r} failed: {type(e).__name__}: {e}")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    def input_schema(tool_name: str) -> Any:
        return registry.get(tool_name).parameters if tool_name in registry else None

    server = Server(name, instructions=instructions, on_list_tools=list_tools, on_call_tool=call_tool,
                    get_tool_input_schema=input_schema)
    server.augment_tools = registry  # type: ignore[attr-defined]
    return server


def serve_stdio(server: Any) -> None:
    """Serve over this process's stdin/stdout until the client closes them."""
    import anyio
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def serve_http(server: Any, host: str = "127.0.0.1", port: int = 8765, path: str = "/mcp",
               log_level: str = "warning") -> None:
    """Serve over streamable HTTP at ``http://host:port{path}`` (uvicorn) until interrupted."""
    import uvicorn

    if not path.startswith("/"):
        raise ConfigError(f"the MCP path must start with '/', got {path!r}")
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
