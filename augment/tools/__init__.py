"""Tools a model can call: ``@tool`` functions, ``Tool`` classes, a registry, plugins and safe built-ins.

>>> from augment.tools import tool, builtin, ToolRegistry
>>> @tool
... def shout(text: str) -> str:
...     '''Return the text in capitals.
...
...     Args:
...         text: what to shout
...     '''
...     return text.upper()
>>> reg = ToolRegistry([shout, builtin("calculator")])
>>> reg.call("shout", {"text": "hi"}), reg.call("calculator", {"expression": "sqrt(16) + 1"})
('HI', '5.0')

Built-ins (each safe by default): ``calculator`` (AST evaluator, never ``eval``),
``python`` (subprocess sandbox), ``http_get`` (no private addresses, optional
host allowlist), ``now`` (date and time) and ``retrieve`` (search a retriever).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Iterable

from augment._lazy import lazy_attributes
from augment.errors import ConfigError, ToolError
from augment.tools.base import DEFAULT_TIMEOUT, FunctionTool, Tool, to_observation, tool
from augment.tools.registry import ENTRY_POINT_GROUP, ToolPluginWarning, ToolRegistry

__all__ = [
    "Tool",
    "FunctionTool",
    "tool",
    "to_observation",
    "ToolRegistry",
    "ToolPluginWarning",
    "ENTRY_POINT_GROUP",
    "DEFAULT_TIMEOUT",
    "BUILTINS",
    "DEFAULT_BUILTINS",
    "builtin",
    "builtin_tools",
    "Calculator",
    "PythonTool",
    "HttpGet",
    "Now",
    "Retrieve",
]

# built-in tool name -> "module:class"
BUILTINS: dict[str, str] = {
    "calculator": "augment.tools.calculator:Calculator",
    "python": "augment.tools.python:PythonTool",
    "http_get": "augment.tools.http:HttpGet",
    "now": "augment.tools.now:Now",
    "retrieve": "augment.tools.retrieve:Retrieve",
}
# what builtin_tools() gives without names (retrieve needs a retriever)
DEFAULT_BUILTINS: tuple[str, ...] = ("calculator", "python", "http_get", "now")

_CLASSES = {target.split(":")[1]: target for target in BUILTINS.values()}


def _builtin_class(name: str) -> type[Tool]:
    if name not in BUILTINS:
        raise ToolError(f"unknown built-in tool {name!r}; the built-ins are: {', '.join(BUILTINS)}")
    module, attr = BUILTINS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def builtin(name: str, **config: Any) -> Tool:
    """A new built-in tool, configured with keyword options (see each class).

    >>> builtin("calculator").call({"expression": "2 * (3 + 4)"})
    '14'
    """
    cls = _builtin_class(name)
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in config if k not in params or k == "self"]
    if unknown:
        options = ", ".join(p for p in params if p != "self")
        raise ConfigError(f"built-in tool '{name}' has no option {', '.join(map(repr, unknown))}; its options are: {options}")
    return cls(**config)


def builtin_tools(names: Iterable[str] | str | None = None, **config: dict[str, Any]) -> list[Tool]:
    """Several built-ins at once: ``builtin_tools("calculator,now")``; None gives calculator, python, http_get, now.

    ``config`` maps a tool name to its options: ``builtin_tools(["http_get"], http_get={"allowed_hosts": [...]})``.
    """
    if names is None:
        names = DEFAULT_BUILTINS
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    stray = [k for k in config if k not in names]
    if stray:
        raise ConfigError(f"options given for {', '.join(stray)}, which is not among the requested tools {names}")
    return [builtin(n, **config.get(n, {})) for n in names]


__getattr__, __dir__ = lazy_attributes(globals(), {attr: target.split(":")[0] for attr, target in _CLASSES.items()})
