"""Tools both ways between augment and LangChain.

- :func:`to_langchain_tool`: an augment :class:`~augment.tools.Tool` as a LangChain
  ``StructuredTool`` whose ``args_schema`` is the tool's own pydantic model;
- :func:`from_langchain_tool`: any LangChain ``BaseTool`` as an augment ``Tool``.

>>> from augment.tools import builtin
>>> lc = to_langchain_tool(builtin("calculator"))
>>> lc.invoke({"expression": "6 * 7"})
'42'
>>> back = from_langchain_tool(lc)
>>> back.call({"expression": "1 + 1"})
'2'
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from augment.errors import MissingDependencyError, ToolError, ToolValidationError
from augment.tools.base import DEFAULT_TIMEOUT, Tool
from augment.tools.schema import clean_schema

__all__ = ["to_langchain_tool", "from_langchain_tool", "LangChainTool"]


def _require_langchain() -> None:
    try:
        import langchain_core.tools  # noqa: F401
    except ImportError as e:  # pragma: no cover - langchain-core is a dependency
        raise MissingDependencyError("langchain-core", purpose="LangChain tool interop") from e


def to_langchain_tool(tool: Tool, handle_tool_error: bool = True) -> Any:
    """A LangChain ``StructuredTool`` that validates with ``tool.args_model`` and runs ``tool.call``.

    With ``handle_tool_error=True`` (default) a failing tool returns its error
    message as the tool's content, so a LangChain agent can react to it, as ours does.
    """
    _require_langchain()
    from langchain_core.tools import StructuredTool, ToolException

    if not isinstance(tool, Tool):
        raise ToolError(f"to_langchain_tool needs an augment Tool (a @tool function or Tool subclass), got {tool!r}")

    def run(**kwargs: Any) -> str:
        try:
            return tool.call(kwargs)
        except ToolError as e:
            raise ToolException(str(e)) from e

    async def arun(**kwargs: Any) -> str:
        try:
            return await tool.acall(kwargs)
        except ToolError as e:
            raise ToolException(str(e)) from e

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_model,
        infer_schema=False,
        handle_tool_error=handle_tool_error,
    )


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name or "").strip("_")[:64]
    return cleaned or "langchain_tool"


class LangChainTool(Tool):
    """An augment tool backed by a LangChain ``BaseTool`` (see :func:`from_langchain_tool`).

    >>> from langchain_core.tools import tool as lc_tool
    >>> @lc_tool
    ... def double(x: int) -> int:
    ...     '''Double a number.'''
    ...     return 2 * x
    >>> LangChainTool(double).call({"x": 21})
    '42'
    """

    def __init__(self, lc_tool: Any, *, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT):
        _require_langchain()
        from langchain_core.tools import BaseTool

        if not isinstance(lc_tool, BaseTool):
            raise ToolError(f"from_langchain_tool needs a LangChain BaseTool, got {lc_tool!r}")
        self.lc_tool = lc_tool
        schema = lc_tool.tool_call_schema
        self._json_schema: dict[str, Any] | None = None
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self.args_schema = schema
        else:  # a JSON-schema dict or a pydantic v1 model
            from langchain_core.utils.function_calling import convert_to_openai_tool

            self._json_schema = clean_schema(convert_to_openai_tool(lc_tool)["function"].get("parameters") or {})
        description = lc_tool.description or f"The LangChain tool {lc_tool.name}."
        super().__init__(name=name or _safe_name(lc_tool.name), description=description, timeout=timeout)

    def _docs(self) -> tuple[str, dict[str, str]]:
        return "", {}

    def _setup(self) -> None:
        if self._json_schema is None:
            super()._setup()
        else:
            self._parameters = self._json_schema
            self._model = BaseModel  # validation is done by validate() below
        self._parameters.pop("description", None)  # LangChain repeats the tool's description in its schema

    def validate(self, arguments: Any) -> dict[str, Any]:
        if self._json_schema is None:
            return super().validate(arguments)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                raise self._invalid(f"the arguments are not valid JSON ({e.msg})") from None
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise self._invalid(f"the arguments must be a JSON object, got {type(arguments).__name__}")
        try:
            import jsonschema
        except ImportError as e:
            raise MissingDependencyError("jsonschema", purpose="validating LangChain tools with JSON-schema arguments") from e
        errors = sorted(jsonschema.Draft202012Validator(self._json_schema).iter_errors(arguments), key=str)
        if errors:
            problems = [f"argument '{'.'.join(map(str, e.path)) or 'arguments'}': {e.message}" for e in errors]
            err = ToolValidationError(f"Invalid arguments for tool '{self.name}': " + "; ".join(problems) + ".")
            err.tool_name, err.problems = self.name, problems  # type: ignore[attr-defined]
            raise err
        return dict(arguments)

    def forward(self, **kwargs: Any) -> Any:
        from langchain_core.tools import ToolException

        try:
            return self.lc_tool.invoke(kwargs)
        except ToolException as e:
            raise ToolError(f"Tool '{self.name}' failed: {e}") from e


def from_langchain_tool(lc_tool: Any, *, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT) -> Tool:
    """An augment :class:`~augment.tools.Tool` that calls a LangChain ``BaseTool``."""
    return LangChainTool(lc_tool, name=name, timeout=timeout)
