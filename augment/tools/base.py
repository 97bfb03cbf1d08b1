"""Tools: typed functions (``@tool``) or stateful classes (``Tool``) a model can call.

A tool has a ``name``, a ``description``, a JSON schema of its ``parameters``
(built with pydantic from the type hints, unknown arguments refused), and runs
with a time limit. ``call(arguments)`` is what an agent uses: it validates the
arguments, runs the tool and returns the result as text; every failure is an
:class:`~augment.errors.ToolError` whose message a model can read and act on.

>>> from augment.tools import tool
>>> @tool
... def add(a: int, b: int = 1) -> int:
...     '''Add two integers.
...
...     Args:
...         a: the first integer
...         b: the second integer
...     '''
...     return a + b
>>> add.call({"a": 2, "b": "3"})
'5'
>>> add(2)
3
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import dataclasses
import enum
import inspect
import json
import re
import threading
from typing import Any, Callable, Iterable, TypeVar, overload

from pydantic import BaseModel, ValidationError

from augment.errors import ToolError, ToolTimeoutError, ToolValidationError
from augment.tools.docstrings import parse_docstring
from augment.tracing import trace_tool
from augment.tools.schema import clean_schema, format_validation_error, model_from_function, model_json_schema, strict_model

__all__ = ["Tool", "FunctionTool", "tool", "to_observation", "DEFAULT_TIMEOUT", "PERMISSIONS"]

#: what a tool may declare it does (``Tool.permissions``); a guard policy decides per kind
PERMISSIONS = ("read_only", "network", "code_execution", "writes")

DEFAULT_TIMEOUT = 30.0
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSET: Any = object()
F = TypeVar("F", bound=Callable[..., Any])


def to_observation(result: Any) -> str:
    """Turn a tool's return value into the text a model reads (str as is, the rest as JSON)."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    def default(o: Any) -> Any:
        if isinstance(o, BaseModel):
            return o.model_dump(mode="json")
        if isinstance(o, enum.Enum):
            return o.value
        return str(o)

    try:
        return json.dumps(result, ensure_ascii=False, default=default)
    except (TypeError, ValueError):
        return str(result)


class Tool:
    """Base class of tools; subclass it for a tool that holds state.

    Set ``name`` and ``description`` and define ``forward`` with typed, documented
    parameters (or set ``args_schema`` to a pydantic model; ``forward`` then
    gets its fields as keyword arguments). ``timeout`` is in seconds (None: no limit).

    >>> from augment.tools import Tool
    >>> class Counter(Tool):
    ...     name = "counter"
    ...     description = "Count how many times it was called, plus a step."
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.total = 0
    ...     def forward(self, step: int = 1) -> int:
    ...         '''Args:
    ...             step: how much to add
    ...         '''
    ...         self.total += step
    ...         return self.total
    >>> c = Counter()
    >>> c.call({"step": 2}), c.call({})
    ('2', '3')
    >>> c.spec()["function"]["parameters"]["properties"]["step"]
    {'default': 1, 'description': 'how much to add', 'type': 'integer'}
    """

    name: str = ""
    description: str = ""
    args_schema: type[BaseModel] | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    require_docs: bool = True
    #: what the tool does, from PERMISSIONS; empty means undeclared (see augment.guard.ToolPolicy)
    permissions: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None, description: str | None = None, timeout: float | None = _UNSET,
                 permissions: Iterable[str] | str | None = None):
        if permissions is not None:
            self.permissions = _check_permissions(permissions, name or self.name)
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        if timeout is not _UNSET:
            self.timeout = timeout
        self._model: type[BaseModel] | None = None
        self._parameters: dict[str, Any] | None = None
        self._setup()

    # -- definition ---------------------------------------------------------
    def _target(self) -> Callable[..., Any]:
        """The callable that does the work (``forward`` for classes)."""
        if type(self).forward is Tool.forward:
            raise ToolError(f"tool class {type(self).__name__} does not define forward(); implement it with typed arguments")
        return self.forward

    def _docs(self) -> tuple[str, dict[str, str]]:
        cls_doc = next((c.__doc__ for c in type(self).__mro__[:-1] if c.__doc__ and c is not Tool and issubclass(c, Tool)), None)
        cls_desc, cls_args = parse_docstring(cls_doc)
        fwd_doc = next((c.__dict__["forward"].__doc__ for c in type(self).__mro__
                        if "forward" in c.__dict__ and getattr(c.__dict__["forward"], "__doc__", None)), None)
        fwd_desc, fwd_args = parse_docstring(fwd_doc if fwd_doc != Tool.forward.__doc__ else None)
        return (cls_desc or fwd_desc), {**cls_args, **fwd_args}

    def _setup(self) -> None:
        target = self._target()
        desc, arg_docs = self._docs()
        self.description = (self.description or desc or "").strip()
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ToolError(
                f"tool name {self.name!r} ({type(self).__name__}) is not valid; use 1-64 letters, digits, '_' or '-'"
            )
        if not self.description:
            raise ToolError(f"tool '{self.name}' has no description; write a docstring or pass description=...")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ToolError(f"tool '{self.name}': timeout must be a positive number of seconds or None, got {self.timeout!r}")
        if self.args_schema is not None:
            self._model = strict_model(self.args_schema, self.name)
        else:
            self._model = model_from_function(target, self.name, arg_docs, require_docs=self.require_docs)
        self._parameters = clean_schema(model_json_schema(self._model))

    def forward(self, **kwargs: Any) -> Any:
        """Do the work; override in subclasses."""
        raise NotImplementedError

    # -- public interface ---------------------------------------------------
    @property
    def args_model(self) -> type[BaseModel]:
        """The pydantic model of the arguments (unknown keys are refused)."""
        if getattr(self, "_model", None) is None:  # a subclass __init__ that did not call super().__init__()
            self._setup()
        return self._model  # type: ignore[return-value]

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON schema of the arguments (a copy: changing it does not change the tool)."""
        if getattr(self, "_parameters", None) is None:
            self._setup()
        return copy.deepcopy(self._parameters)  # type: ignore[arg-type]

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-calling description of this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: dict[str, Any] | str | None) -> dict[str, Any]:
        """Check ``arguments`` against the schema and return them converted (ints, enums, models).

        Raises :class:`ToolValidationError` naming each bad argument and what is expected.
        """
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                raise self._invalid(f"the arguments are not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(arguments, dict):
            raise self._invalid(f"the arguments must be a JSON object of name: value, got {type(arguments).__name__}")
        try:
            obj = self.args_model.model_validate(arguments)
        except ValidationError as e:
            message, problems = format_validation_error(self.name, e, getattr(self, "_parameters", None) or {})
            err = ToolValidationError(message)
            err.tool_name, err.problems = self.name, problems  # type: ignore[attr-defined]
            raise err from None
        return {name: getattr(obj, name) for name in type(obj).model_fields}

    def _invalid(self, problem: str) -> ToolValidationError:
        err = ToolValidationError(f"Invalid arguments for tool '{self.name}': {problem}. Call it again with a JSON object.")
        err.tool_name, err.problems = self.name, [problem]  # type: ignore[attr-defined]
        return err

    def call(self, arguments: dict[str, Any] | str | None = None) -> str:
        """Validate ``arguments``, run the tool within its timeout and return the result as text."""
        with trace_tool(self, arguments) as span:  # an OpenTelemetry span (a no-op until tracing is configured)
            return span.done(to_observation(self._run(self.validate(arguments))))

    async def acall(self, arguments: dict[str, Any] | str | None = None) -> str:
        """Async :meth:`call` (runs in a worker thread)."""
        return await asyncio.to_thread(self.call, arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the tool like a function; returns the raw result (arguments validated, timeout applied)."""
        names = list(self.args_model.model_fields)
        if len(args) > len(names):
            raise ToolValidationError(f"tool '{self.name}' takes {len(names)} arguments ({', '.join(names)}), got {len(args)} positional")
        for name, value in zip(names, args):
            if name in kwargs:
                raise ToolValidationError(f"tool '{self.name}': argument '{name}' given twice")
            kwargs[name] = value
        return self._run(self.validate(kwargs))

    # -- running ------------------------------------------------------------
    def _invoke(self, kwargs: dict[str, Any]) -> Any:
        fn = self._target()
        if inspect.iscoroutinefunction(fn):
            return asyncio.run(fn(**kwargs))
        return fn(**kwargs)

    def _run(self, kwargs: dict[str, Any]) -> Any:
        if self.timeout is None:
            return self._guard(kwargs)
        box: dict[str, Any] = {}
        ctx = contextvars.copy_context()

        def target() -> None:
            try:
                box["result"] = ctx.run(self._guard, kwargs)
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        thread = threading.Thread(target=target, name=f"augment-tool-{self.name}", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            raise ToolTimeoutError(
                f"Tool '{self.name}' did not finish within {self.timeout:g} s and was stopped waiting for; "
                f"try simpler arguments, or raise the tool's timeout"
            )
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def _guard(self, kwargs: dict[str, Any]) -> Any:
        try:
            return self._invoke(kwargs)
        except ToolError:
            raise
        except Exception as e:
            raise ToolError(f"Tool '{self.name}' failed: {type(e).__name__}: {e}") from e

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_permissions(permissions: Iterable[str] | str, name: str) -> tuple[str, ...]:
    items = [permissions] if isinstance(permissions, str) else list(permissions)
    bad = [p for p in items if p not in PERMISSIONS]
    if bad:
        raise ToolError(f"tool '{name}': unknown permission {', '.join(map(repr, bad))}; use any of {', '.join(PERMISSIONS)}")
    return tuple(dict.fromkeys(items))


class FunctionTool(Tool):
    """A tool made from a function (what ``@tool`` returns); ``.fn`` is the function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = _UNSET,
        require_docs: bool = True,
        permissions: Iterable[str] | str | None = None,
    ):
        if not callable(fn):
            raise ToolError(f"@tool needs a function, got {fn!r}")
        self.fn = fn
        self.require_docs = require_docs
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        super().__init__(name=name or getattr(fn, "__name__", None), description=description, timeout=timeout,
                         permissions=permissions)

    def _target(self) -> Callable[..., Any]:
        return self.fn

    def _docs(self) -> tuple[str, dict[str, str]]:
        return parse_docstring(self.fn.__doc__)


@overload
def tool(fn: F) -> FunctionTool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = DEFAULT_TIMEOUT, require_docs: bool = True,
    permissions: Iterable[str] | str | None = None,
) -> Callable[[F], FunctionTool]: ...


def tool(fn: Any = None, *, name: str | None = None, description: str | None = None,
         timeout: float | None = DEFAULT_TIMEOUT, require_docs: bool = True,
         permissions: Iterable[str] | str | None = None) -> Any:
    """Turn a typed, documented function into a :class:`Tool`.

    The name comes from the function (or ``name=``), the description and each
    argument's help from the docstring (Google ``Args:``, NumPy or reST style),
    the JSON schema from the type hints. An untyped argument or one the
    docstring does not describe raises :class:`ToolError` at once
    (``require_docs=False`` allows undocumented arguments). ``permissions`` says
    what the tool does (``"read_only"``, ``"network"``, ``"code_execution"``,
    ``"writes"``): a guard's policy decides on it.

    >>> from typing import Literal
    >>> @tool(name="weather", timeout=5)
    ... def get_weather(city: str, units: Literal["c", "f"] = "c") -> str:
    ...     '''Current weather in a city.
    ...
    ...     Args:
    ...         city: the city name
    ...         units: c for Celsius, f for Fahrenheit
    ...     '''
    ...     return f"20 degrees {units} in {city}"
    >>> get_weather.parameters["properties"]["units"]["enum"]
    ['c', 'f']
    """
    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, timeout=timeout, require_docs=require_docs,
                            permissions=permissions)

    if fn is not None:
        if name is not None and not callable(fn):
            raise ToolError("use @tool or @tool(name=...), not @tool(<positional>)")
        if isinstance(fn, str):
            raise ToolError(f"use @tool(name={fn!r}) with a keyword, not @tool({fn!r})")
        return wrap(fn)
    return wrap
