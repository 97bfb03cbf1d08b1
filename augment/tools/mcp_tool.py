"""One MCP server tool as an augment :class:`~augment.tools.Tool`, and the checks on its schema.

:class:`MCPTool` objects come from :meth:`augment.tools.mcp.MCPClient.tools`; this module holds
what does not need a connection: the schema check, the conversion of a result to text, the tool.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterable

from augment.errors import ToolError
from augment.tools.base import Tool, to_observation

if TYPE_CHECKING:
    from augment.tools.mcp import MCPClient

__all__ = ["MCPTool", "MCPWarning", "schema_problem", "result_text"]


class MCPWarning(UserWarning):
    """An MCP tool was left out (its schema cannot be used); the others were loaded."""


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot be a tool's argument schema for a constrained model, or None when it can."""
    if not isinstance(schema, dict):
        return f"the input schema is a {type(schema).__name__}, not a JSON object schema"
    if schema.get("type", "object") != "object":
        return f"the input schema's root type is {schema.get('type')!r}; a tool's arguments must be a JSON object"
    try:
        from jsonschema.validators import validator_for

        validator_for(schema).check_schema(schema)
    except Exception as e:  # jsonschema.SchemaError and friends
        return f"the input schema is not valid JSON schema ({str(e).splitlines()[0]})"
    refs = [r for r in _refs(schema) if not r.startswith("#")]
    if refs:
        return f"the input schema refers to {refs[0]!r}, a schema outside itself that cannot be fetched offline"
    return None


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def result_text(result: Any) -> str:
    """The observation a model reads from an MCP ``CallToolResult``: its text blocks, or its structured content."""
    parts = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {getattr(block, 'mime_type', '')}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            parts.append(getattr(block.resource, "text", None) or f"[resource {block.resource.uri}]")
    if not parts and result.structured_content is not None:
        return to_observation(result.structured_content)
    return "\n".join(parts)


class MCPTool(Tool):
    """One tool of an MCP server, called through its :class:`MCPClient`.

    Its ``parameters`` are the server's input schema; arguments are checked
    against it here (jsonschema) before they are sent, so a model gets the same
    "Invalid arguments" observation as with a local tool.
    """

    def __init__(self, client: "MCPClient", remote_name: str, description: str, schema: dict[str, Any],
                 name: str | None = None, timeout: float | None = None):
        self.client, self.remote_name = client, remote_name
        self.name = name or remote_name
        self.description = description or f"Tool '{remote_name}' of the MCP server {client.name}."
        self.timeout = None  # the client enforces the time limit (it can cancel the request)
        self.call_timeout = client.timeout if timeout is None else timeout
        self._parameters = schema
        self._model = None
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.name):
            raise ToolError(f"MCP tool name {self.name!r} is not valid; use 1-64 letters, digits, '_' or '-'")

    def _setup(self) -> None:  # the schema comes from the server, not from a Python signature
        pass

    @property
    def args_model(self) -> Any:
        raise ToolError(f"MCP tool '{self.name}' has a JSON schema, not a pydantic model; use .parameters")

    def validate(self, arguments: dict[str, Any] | str | None) -> dict[str, Any]:
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                raise self._invalid(f"the arguments are not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(arguments, dict):
            raise self._invalid(f"the arguments must be a JSON object of name: value, got {type(arguments).__name__}")
        from jsonschema.validators import validator_for

        errors = sorted(validator_for(self._parameters)(self._parameters).iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            problems = [(f"argument '{'.'.join(map(str, e.path))}': " if e.path else "") + e.message for e in errors[:5]]
            raise self._invalid("; ".join(problems))
        return arguments

    def _invoke(self, kwargs: dict[str, Any]) -> Any:
        return self.client.call(self.remote_name, kwargs, timeout=self.call_timeout, shown_as=self.name)

    def __call__(self, **kwargs: Any) -> Any:  # type: ignore[override]
        """Call the tool with keyword arguments; returns the observation text."""
        return self.call(kwargs)

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, server={self.client.name!r})"
