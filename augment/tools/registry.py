"""A set of tools by name, and plugin discovery.

Plugins come from two places:

- the ``augment.tools`` entry-point group of installed packages; each entry
  point loads a :class:`Tool`, a ``@tool`` function, a ``Tool`` subclass
  (instantiated without arguments) or a list of these;
- a folder of ``.py`` files (``--tools-dir``): every ``Tool`` object at module level.

A plugin that fails to load is reported with a :class:`ToolPluginWarning` naming
the file or entry point, and the others still load (``strict=True`` raises instead).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from augment.errors import ToolError
from augment.tools.base import FunctionTool, Tool

__all__ = ["ToolRegistry", "ToolPluginWarning", "ENTRY_POINT_GROUP", "load_tools_dir", "load_tools_file", "load_entry_points"]

ENTRY_POINT_GROUP = "augment.tools"


class ToolPluginWarning(UserWarning):
    """A tool plugin could not be loaded; the others were."""


def _as_tools(obj: Any, origin: str) -> list[Tool]:
    if isinstance(obj, Tool):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, Tool):
        return [obj()]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _as_tools(item, origin)]
    raise ToolError(f"{origin} gave {obj!r}, which is not a tool; it must be a Tool, a @tool function or a list of them")


def _report(message: str, strict: bool, cause: BaseException | None = None) -> None:
    if strict:
        raise ToolError(message) from cause
    warnings.warn(message, ToolPluginWarning, stacklevel=3)


def load_tools_dir(tools_dir: str | Path, strict: bool = False) -> list[Tool]:
    """Import every ``.py`` file of ``tools_dir`` (not starting with ``_``) and return its module-level tools."""
    folder = Path(tools_dir).expanduser()
    if not folder.is_dir():
        raise ToolError(f"tools folder '{folder}' does not exist or is not a folder; pass a folder of .py files")
    return [t for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")
            for t in load_tools_file(path, strict)]


def load_tools_file(path: str | Path, strict: bool = True) -> list[Tool]:
    """Import one ``.py`` file and return its module-level tools (``@tool`` functions, ``Tool`` instances).

    A file that fails to import raises :class:`ToolError` naming the file and line (``strict=False``: a warning).
    """
    path = Path(path).expanduser()
    if not path.is_file() or path.suffix != ".py":
        raise ToolError(f"tools file '{path}' does not exist or is not a .py file; pass a Python file defining @tool functions")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"augment_tool_plugins.{path.stem}_{digest}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError("not an importable Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(module_name, None)
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
        line = getattr(e, "lineno", None) if isinstance(e, SyntaxError) else (lines[-1] if lines else None)
        at = f" (at line {line})" if line else ""
        _report(f"tool plugin file '{path}' failed to load{at}: {type(e).__name__}: {e}; fix or remove the file",
                strict, e)
        return []
    found: list[Tool] = []
    seen: set[int] = set()
    for value in vars(module).values():
        if isinstance(value, Tool) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found


def load_entry_points(strict: bool = False) -> list[Tool]:
    """Load the tools of every installed ``augment.tools`` entry point."""
    from importlib import metadata

    found: list[Tool] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point '{ep.name} = {ep.value}' (group {ENTRY_POINT_GROUP}" + (
            f", package {ep.dist.name})" if getattr(ep, "dist", None) is not None else ")"
        )
        try:
            found.extend(_as_tools(ep.load(), origin))
        except Exception as e:
            _report(f"tool plugin {origin} failed to load: {type(e).__name__}: {e}", strict, e)
    return found


class ToolRegistry:
    """Tools by name: what an agent may call.

    >>> from augment.tools import ToolRegistry, builtin
    >>> reg = ToolRegistry([builtin("calculator")])
    >>> reg.names
    ['calculator']
    >>> reg.call("calculator", {"expression": "2 ** 10"})
    '1024'
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()):
        self._tools: dict[str, Tool] = {}
        self._origins: dict[str, str] = {}
        for t in tools:
            self.add(t)

    def add(self, tool: Tool | Callable[..., Any], origin: str = "") -> Tool:
        """Add a tool (a plain typed function is wrapped with ``@tool``); a second tool of one name is an error."""
        if not isinstance(tool, Tool):
            if isinstance(tool, type) or not callable(tool):
                raise ToolError(f"cannot add {tool!r} to a ToolRegistry; pass a Tool or a function decorated with @tool")
            tool = FunctionTool(tool)
        if tool.name in self._tools:
            if self._tools[tool.name] is tool:
                return tool
            before = self._origins.get(tool.name) or repr(self._tools[tool.name])
            raise ToolError(
                f"two tools are named '{tool.name}' ({before} and {origin or repr(tool)}); "
                f"rename one, e.g. @tool(name='{tool.name}_2')"
            )
        self._tools[tool.name] = tool
        self._origins[tool.name] = origin
        return tool

    def get(self, name: str) -> Tool:
        """The tool called ``name``; an unknown name raises :class:`ToolError` listing the known ones."""
        try:
            return self._tools[name]
        except (KeyError, TypeError):
            known = ", ".join(self._tools) or "none"
            raise ToolError(f"unknown tool {name!r}; the available tools are: {known}") from None

    def call(self, name: str, arguments: dict[str, Any] | str | None = None) -> str:
        """``get(name).call(arguments)``."""
        return self.get(name).call(arguments)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def specs(self) -> list[dict[str, Any]]:
        """OpenAI function specs of all tools (what ``tools=`` of an LLM accepts)."""
        return [t.spec() for t in self._tools.values()]

    def discover(self, entry_points: bool = True, tools_dir: str | Path | None = None, strict: bool = False) -> list[Tool]:
        """Add plugin tools (entry points and/or a folder); return the ones added.

        A plugin that fails to load, or whose name is taken, is skipped with a
        :class:`ToolPluginWarning` (``strict=True``: :class:`ToolError`).
        """
        candidates: list[tuple[Tool, str]] = []
        if entry_points:
            candidates += [(t, f"entry point tool {t!r}") for t in load_entry_points(strict)]
        if tools_dir is not None:
            candidates += [(t, f"{t!r} from {tools_dir}") for t in load_tools_dir(tools_dir, strict)]
        added = []
        for t, origin in candidates:
            try:
                added.append(self.add(t, origin=origin))
            except ToolError as e:
                _report(str(e), strict, e)
        return added

    @classmethod
    def load(
        cls, names: Iterable[str] | str | None = None, tools_dir: str | Path | None = None, entry_points: bool = True
    ) -> "ToolRegistry":
        """Built-in and plugin tools by name (``"calculator,python"``); None: every plugin plus the default built-ins."""
        from augment.tools import BUILTINS, DEFAULT_BUILTINS, builtin

        plugins = ToolRegistry()
        plugins.discover(entry_points=entry_points, tools_dir=tools_dir)
        if names is None:
            reg = cls(builtin(n) for n in DEFAULT_BUILTINS if n not in plugins)
            for t in plugins:
                reg.add(t)
            return reg
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        reg = cls()
        for n in names:
            if n in plugins:
                reg.add(plugins.get(n))
            elif n in BUILTINS:
                reg.add(builtin(n))
            else:
                known = sorted(set(BUILTINS) | set(plugins.names))
                raise ToolError(f"unknown tool {n!r}; available: {', '.join(known)}")
        return reg

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self.get(name)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names})"
