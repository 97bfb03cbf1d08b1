"""A real MCP server written with the official SDK, started by the tests.

    python mcp_demo_server.py                 # stdio
    python mcp_demo_server.py http PORT       # streamable HTTP on 127.0.0.1:PORT/mcp
    python mcp_demo_server.py stdio --name other   # a second server whose tools collide with the first

Tools: add, weather (a fixed table), fail (returns an MCP tool error), crash
(kills the server mid-call), hang (never answers), and ``odd`` whose input schema
points at a remote ``$ref`` (a schema no client can constrain offline).
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

NAME = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "demo"
server = MCPServer(NAME, log_level="WARNING")
WEATHER = {"paris": "18 C and sunny", "oslo": "3 C and snowing", "lima": "22 C and cloudy"}


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def weather(city: str) -> str:
    """Today's weather in a city (Paris, Oslo or Lima)."""
    try:
        return f"{city}: {WEATHER[city.strip().lower()]}"
    except KeyError:
        raise ToolError(f"no weather station in {city!r}; known cities: Paris, Oslo, Lima") from None


@server.tool()
def fail(reason: str = "broken") -> str:
    """Always fails with a tool error."""
    raise ToolError(f"this tool always fails: {reason}")


@server.tool()
def crash() -> str:
    """Kills the server process in the middle of the call."""
    os._exit(3)


@server.tool()
def hang(seconds: float = 3600) -> str:
    """Never answers (sleeps for an hour)."""
    time.sleep(seconds)
    return "woke up"


@server.tool()
def odd(value: str = "") -> str:
    """A tool whose published schema is replaced by one no client can constrain."""
    return value


# publish a schema whose argument points at a remote $ref: valid JSON schema, but no client can constrain it offline
server._tool_manager.get_tool("odd").parameters = {
    "type": "object", "properties": {"value": {"$ref": "https://example.com/schemas/value.json"}}, "required": ["value"]}

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
