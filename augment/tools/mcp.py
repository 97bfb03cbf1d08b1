"""The tools of MCP servers as augment tools (stdio and streamable HTTP).

An :class:`MCPClient` holds one connection to a Model Context Protocol server
(a command line started as a subprocess and spoken to over stdio, or a
streamable HTTP URL) on a background event loop, so that its tools are plain
synchronous augment :class:`~augment.tools.Tool` objects that any agent or
:class:`~augment.tools.ToolRegistry` takes. :func:`mcp_tools` opens several
servers at once and prefixes a tool name with its server's name when two servers
publish the same name.

Failures never hang and never crash an agent: a tool error the server reports,
a server that dies in the middle of a call, or one that does not answer within
``timeout`` seconds each raises :class:`~augment.errors.ToolError` (or
:class:`~augment.errors.ToolTimeoutError`), which the agent hands back to the
model as an observation. A tool whose input schema cannot be used to constrain
a model (not an object schema, a remote ``$ref``) is left out with a
:class:`MCPWarning` naming it (``strict=True`` raises instead).

Needs the official SDK: ``pip install 'augment[mcp]'`` (``mcp>=2.3,<3``; 2.x
renamed and reshaped the 1.x client and server API, and augment uses the 2.x one).

Example::

    from augment import Agent, load_llm
    from augment.tools.mcp import MCPClient

    with MCPClient("python my_server.py") as server:          # or MCPClient("http://127.0.0.1:9000/mcp")
        print(server.tools())                                   # [MCPTool(name='add'), ...]
        print(server.call("add", {"a": 2, "b": 3}))             # '5'
        Agent(load_llm(), server.tools()).run("What is 2 + 3?")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shlex
import sys
import tempfile
import threading
import warnings
from typing import Any, Iterable, Sequence

from augment.errors import ConfigError, MissingDependencyError, ServerUnreachableError, ToolError, ToolTimeoutError
from augment.tools.base import DEFAULT_TIMEOUT
from augment.tools.mcp_tool import MCPTool, MCPWarning, result_text, schema_problem

__all__ = ["MCPClient", "MCPTool", "MCPWarning", "MCPServers", "mcp_tools", "add_mcp_servers", "schema_problem"]

_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
#: how long to wait for a server to start and list its tools
CONNECT_TIMEOUT = 60.0


def _require_mcp() -> Any:
    try:
        import mcp
    except ImportError as e:
        raise MissingDependencyError("mcp", "pip install 'augment[mcp]'", "MCP servers and clients") from e
    return mcp


class MCPClient:
    """A connection to one MCP server: ``server`` is a URL (streamable HTTP) or a command line (stdio).

    ``name`` (default: the server's own name, else the command or host) prefixes
    colliding tool names; ``timeout`` bounds each call in seconds; ``connect_timeout``
    (default :data:`CONNECT_TIMEOUT`) bounds starting the server and listing its tools; ``env`` adds
    environment variables for a stdio server (which inherits this process's
    environment); ``headers`` are sent with every HTTP request.
    Use it as a context manager, or call :meth:`close` (the stdio server process is stopped).

    >>> MCPClient("python my_server.py").connect().tools()           # doctest: +SKIP
    [MCPTool(name='add', server='demo')]
    """

    def __init__(self, server: str | Sequence[str], *, name: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float | None = None, env: dict[str, str] | None = None, cwd: str | None = None,
                 headers: dict[str, str] | None = None):
        if isinstance(server, str):
            server = server.strip()
            if not server:
                raise ConfigError("the MCP server is empty; pass a command line ('python server.py') or a URL")
            self.url = server if re.match(r"^https?://", server, re.I) else None
            self.command = None if self.url else shlex.split(server)
        elif isinstance(server, (list, tuple)) and server and all(isinstance(a, str) for a in server):
            self.url, self.command = None, list(server)
        else:
            raise ConfigError(f"an MCP server is a command line or a URL, got {server!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigError(f"MCP timeout must be a positive number of seconds, got {timeout!r}")
        self.target = self.url or shlex.join(self.command or [])
        self.timeout = float(timeout)
        self.connect_timeout = float(CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
        self.env, self.cwd, self.headers = env, cwd, headers
        self._given_name = name
        self.name = name or (re.sub(r"^https?://", "", self.url).split("/")[0] if self.url
                             else os.path.splitext(os.path.basename(self.command[-1]))[0])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._specs: list[Any] = []
        self._stderr: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- connection ---------------------------------------------------
    def connect(self) -> "MCPClient":
        """Start (stdio) or reach (HTTP) the server and list its tools; raises a clear error when it cannot."""
        if self._thread is not None:
            return self
        _require_mcp()
        if self.command is not None:
            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self._thread = threading.Thread(target=self._run_loop, name=f"augment-mcp-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.connect_timeout) or self._client is None:
            error, stderr = self._error, self._stderr_tail()
            self.close()
            where = f"MCP server '{self.target}'"
            if error is None:
                raise ServerUnreachableError(f"{where} did not answer within {self.connect_timeout:g} s{stderr}; "
                                             "check that it is an MCP server, or raise connect_timeout")
            raise ServerUnreachableError(f"{where} could not be reached: {_describe(error)}{stderr}; "
                                         "check the command line or URL and that the server runs") from error
        return self

    def _run_loop(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    def _transport(self) -> Any:
        if self.url is not None:
            from mcp.client.streamable_http import streamable_http_client

            if self.headers:
                import httpx2

                return streamable_http_client(self.url, http_client=httpx2.AsyncClient(headers=self.headers))
            return streamable_http_client(self.url)
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        command = self.command or []
        params = StdioServerParameters(command=command[0], args=command[1:], env={**os.environ, **(self.env or {})},
                                       cwd=self.cwd)
        return stdio_client(params, errlog=self._stderr or sys.stderr)

    async def _serve(self) -> None:
        from mcp import Client

        self._stop = asyncio.Event()
        try:
            # the handshake and listing get connect_timeout (a server may import slowly); calls pass their own
            async with Client(self._transport(), read_timeout_seconds=self.connect_timeout) as client:
                specs, cursor = [], None
                for _ in range(100):  # a paginator that never ends cannot hang us
                    page = await client.list_tools(cursor=cursor)
                    specs += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self._specs = specs
                info = getattr(client.session, "server_info", None) or getattr(client, "server_info", None)
                if self._given_name is None and getattr(info, "name", None):
                    self.name = _NAME_BAD.sub("_", info.name)[:32]
                self._client = client
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:  # the server died, refused us, or closed
            self._error = e
        finally:
            self._client = None
            self._ready.set()

    def _shut_down(self) -> None:
        """Leave the connection (the server is gone or we are closing); calls fail at once from now on."""
        self._client = None
        loop = self._loop
        if loop is not None and self._stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop already stopped
                pass

    def close(self) -> None:
        """Close the connection (a stdio server process is stopped)."""
        self._closed = True
        self._shut_down()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> "MCPClient":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    @property
    def alive(self) -> bool:
        return self._client is not None and self._thread is not None and self._thread.is_alive()

    def _stderr_tail(self, chars: int = 600) -> str:
        f = self._stderr
        if f is None or f.closed:
            return ""
        try:
            f.flush()
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - chars * 4))
            tail = f.read()[-chars:].strip()
        except (OSError, ValueError):
            return ""
        return f" (server stderr: ...{tail})" if tail else ""

    # ---- tools ----------------------------------------------------------
    def tools(self, prefix: str | None = None, strict: bool = False, timeout: float | None = None) -> list[MCPTool]:
        """The server's tools as augment tools (names prefixed ``prefix_`` when given).

        A tool whose schema cannot be used is left out with an :class:`MCPWarning` (``strict=True``: ToolError).
        """
        self.connect()
        out = []
        for spec in self._specs:
            problem = schema_problem(spec.input_schema)
            if problem:
                message = (f"MCP tool '{spec.name}' of server {self.name} was left out: {problem}; "
                           "fix the tool's inputSchema on the server")
                if strict:
                    raise ToolError(message)
                warnings.warn(message, MCPWarning, stacklevel=2)
                continue
            name = _NAME_BAD.sub("_", f"{prefix}_{spec.name}" if prefix else spec.name)[:64]
            out.append(MCPTool(self, spec.name, (spec.description or "").strip(), dict(spec.input_schema), name, timeout))
        return out

    def call(self, name: str, arguments: dict[str, Any] | None = None, timeout: float | None = None,
             shown_as: str | None = None) -> str:
        """Call tool ``name`` on the server and return its result as text; every failure is a ToolError."""
        shown = f"'{shown_as or name}' (MCP server {self.name})"
        timeout = self.timeout if timeout is None else timeout
        client, loop = self._client, self._loop
        if client is None or loop is None or not self.alive:
            raise ToolError(f"Tool {shown} cannot be called: the server is not running"
                            f"{self._exit_reason()}; restart it (reconnect the MCP client)")
        future = asyncio.run_coroutine_threadsafe(client.call_tool(name, arguments or {}, read_timeout_seconds=timeout),
                                                  loop)
        try:
            result = future.result(timeout + 5)  # the SDK's own timeout fires first; this is the backstop
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ToolTimeoutError(f"Tool {shown} did not answer within {timeout:g} s; "
                                   "try simpler arguments, or raise the MCP timeout") from None
        except Exception as e:
            code = getattr(e, "code", None)
            if code == -32001 or isinstance(e, TimeoutError):  # REQUEST_TIMEOUT
                raise ToolTimeoutError(f"Tool {shown} did not answer within {timeout:g} s; "
                                       "try simpler arguments, or raise the MCP timeout") from None
            if code == -32000 or not self.alive:  # CONNECTION_CLOSED: the server exited
                self._shut_down()
                raise ToolError(f"Tool {shown} failed: the server closed the connection during the call"
                                f"{self._exit_reason()}; the tool is unavailable until the server is restarted") from None
            raise ToolError(f"Tool {shown} failed: {_describe(e)}") from None
        text = result_text(result)
        if result.is_error:
            raise ToolError(f"Tool {shown} returned an error: {text or '(no message)'}")
        return text

    def _exit_reason(self) -> str:
        import time

        for _ in range(20):  # the reader notices the exit a moment after the call fails
            if self._thread is None or not self._thread.is_alive():
                break
            time.sleep(0.05)
        return self._stderr_tail(300)

    def __repr__(self) -> str:
        return f"MCPClient({self.target!r}, name={self.name!r})"


def _describe(e: BaseException) -> str:
    """One line for an exception, looking inside the exception groups anyio raises."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class MCPServers:
    """Several MCP servers at once; ``tools()`` gives all their tools, names prefixed on collision.

    A tool name published by two servers becomes ``<server>_<tool>`` for both.

    >>> with MCPServers(["python weather.py", "http://127.0.0.1:9000/mcp"]) as servers:   # doctest: +SKIP
    ...     agent = Agent(load_llm(), servers.tools())
    """

    def __init__(self, servers: Iterable[str | Sequence[str] | MCPClient], timeout: float = DEFAULT_TIMEOUT, **options: Any):
        self.clients = [s if isinstance(s, MCPClient) else MCPClient(s, timeout=timeout, **options) for s in servers]

    def connect(self) -> "MCPServers":
        try:
            for c in self.clients:
                c.connect()
        except BaseException:
            self.close()
            raise
        names = [c.name for c in self.clients]
        for i, c in enumerate(self.clients):  # two servers of one name: number them
            if names.count(c.name) > 1:
                c.name = f"{c.name}{names[:i].count(c.name) + 1}"
        return self

    def tools(self, strict: bool = False) -> list[MCPTool]:
        self.connect()
        per_server = [(c, [s.name for s in c._specs]) for c in self.clients]
        counts: dict[str, int] = {}
        for _, names in per_server:
            for n in set(names):
                counts[n] = counts.get(n, 0) + 1
        out: list[MCPTool] = []
        for client, _ in per_server:
            for t in client.tools(strict=strict):
                if counts.get(t.remote_name, 0) > 1:
                    t.name = _NAME_BAD.sub("_", f"{client.name}_{t.remote_name}")[:64]
                out.append(t)
        return out

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def __enter__(self) -> "MCPServers":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def mcp_tools(*servers: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT, strict: bool = False,
              **options: Any) -> tuple[list[MCPTool], MCPServers]:
    """Connect to ``servers`` and return ``(tools, servers)``; call ``servers.close()`` when done.

    >>> tools, servers = mcp_tools("python my_server.py", "http://127.0.0.1:9000/mcp")   # doctest: +SKIP
    """
    group = MCPServers(servers, timeout=timeout, **options)
    try:
        return group.tools(strict=strict), group
    except BaseException:
        group.close()
        raise


def add_mcp_servers(registry: Any, servers: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> MCPServers | None:
    """Add the tools of ``servers`` to a :class:`~augment.tools.ToolRegistry` (what ``--mcp`` does).

    The connections close when the process exits (or call ``.close()`` on the result).
    """
    if not servers:
        return None
    import atexit

    tools, group = mcp_tools(*servers, timeout=timeout)
    atexit.register(group.close)
    for t in tools:
        registry.add(t, origin=f"MCP server {t.client.name} ({t.client.target})")
    return group
