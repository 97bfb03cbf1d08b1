"""@tool, Tool: schemas from type hints and docstrings, validation, timeouts, failures."""

from __future__ import annotations

import asyncio
import enum
import json
import threading
import time
from typing import Literal, Optional

import pytest
from pydantic import BaseModel, Field

from augment.errors import ToolError, ToolTimeoutError, ToolValidationError
from augment.llm.base import GenerateOptions
from augment.tools import FunctionTool, Tool, tool
from augment.tools.docstrings import parse_docstring


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(description="street and number")
    zip: int


@tool
def every_kind(
    text: str,
    count: int,
    ratio: float = 0.5,
    flag: bool = False,
    note: Optional[str] = None,
    mode: Literal["fast", "slow"] = "fast",
    color: Color = Color.RED,
    numbers: list[int] = [],
    weights: dict[str, float] = {},
    address: Optional[Address] = None,
    stops: list[Address] = [],
) -> dict:
    """Echo every kind of argument.

    Args:
        text: some text
        count (int): how many
            times, on two lines
        ratio: a fraction
        flag: a switch
        note: an optional note
        mode: how to run
        color: a colour
        numbers: some integers
        weights: names to weights
        address: where
        stops: several addresses

    Returns:
        what it got
    """
    return {"text": text, "count": count, "color": color, "address": address, "stops": stops}


def test_schema_has_every_type_kind():
    p = every_kind.parameters
    props = p["properties"]
    assert p["type"] == "object" and p["additionalProperties"] is False
    assert p["required"] == ["text", "count"]
    assert props["text"] == {"type": "string", "description": "some text"}
    assert props["count"] == {"type": "integer", "description": "how many times, on two lines"}
    assert props["ratio"] == {"type": "number", "default": 0.5, "description": "a fraction"}
    assert props["flag"]["type"] == "boolean"
    assert {"type": "null"} in props["note"]["anyOf"] and {"type": "string"} in props["note"]["anyOf"]
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["color"]["enum"] == ["red", "blue"] and props["color"]["default"] == "red"
    assert props["numbers"]["items"] == {"type": "integer"}
    assert props["weights"]["additionalProperties"] == {"type": "number"}
    address = next(o for o in props["address"]["anyOf"] if o.get("type") == "object")
    assert address["properties"]["street"]["description"] == "street and number"
    assert address["required"] == ["street", "zip"]
    assert props["stops"]["items"]["properties"]["zip"] == {"type": "integer"}
    text = json.dumps(p)
    assert "$ref" not in text and '"title"' not in text  # compact: refs inlined, titles dropped
    assert every_kind.description == "Echo every kind of argument."


def test_spec_is_an_openai_function_and_accepted_by_generate_options():
    spec = every_kind.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "every_kind"
    assert spec["function"]["parameters"] == every_kind.parameters
    spec["function"]["parameters"]["properties"].clear()  # callers get copies
    assert "text" in every_kind.spec()["function"]["parameters"]["properties"]
    opts = GenerateOptions.build(tools=[every_kind])
    assert opts.tools[0]["function"]["name"] == "every_kind"


def test_validate_converts_values_and_call_returns_json():
    args = every_kind.validate({"text": "a", "count": "3", "color": "blue", "address": {"street": "Main 1", "zip": 123}})
    assert args["count"] == 3 and args["color"] is Color.BLUE
    assert isinstance(args["address"], Address) and args["ratio"] == 0.5
    out = json.loads(every_kind.call({"text": "a", "count": 2, "stops": [{"street": "x", "zip": 1}]}))
    assert out == {"text": "a", "count": 2, "color": "red", "address": None, "stops": [{"street": "x", "zip": 1}]}
    assert every_kind.call('{"text": "b", "count": 1}').startswith('{"text": "b"')  # JSON string arguments


def test_validation_message_names_argument_problem_and_expectation():
    with pytest.raises(ToolValidationError) as info:
        every_kind.call({"count": "many", "mode": "turbo", "colour": "red", "address": {"zip": "x"}})
    msg = str(info.value)
    assert "Invalid arguments for tool 'every_kind'" in msg
    assert "argument 'text' is missing (expected a string)" in msg
    assert "argument 'count'" in msg and "valid integer" in msg and "'many'" in msg
    assert "argument 'mode'" in msg and "'fast' or 'slow'" in msg
    assert "'colour' is not an argument of this tool" in msg
    assert "argument 'address.street' is missing (expected a string)" in msg
    assert "mode (one of 'fast', 'slow', optional, default \"fast\"): how to run" in msg
    assert "Fix the arguments and call 'every_kind' again." in msg
    assert len(info.value.problems) == 6 and info.value.tool_name == "every_kind"


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", 42])
def test_validate_rejects_non_objects(bad):
    with pytest.raises(ToolValidationError, match="every_kind"):
        every_kind.validate(bad)


def test_call_as_function_positional_and_keyword():
    assert every_kind("t", 2)["count"] == 2
    assert every_kind(text="t", count="4")["count"] == 4
    with pytest.raises(ToolValidationError, match="given twice"):
        every_kind("t", text="u", count=1)


def test_docstring_styles_google_numpy_rest():
    google = "Sum.\n\n    Args:\n        a (int): first\n        b: second\n            more\n    Returns:\n        total\n"
    numpy = "Sum.\n\n    Parameters\n    ----------\n    a : int\n        first\n    b : int\n        second\n\n    Returns\n    -------\n    int\n"
    rest = "Sum.\n\n    :param a: first\n    :param int b: second\n    :returns: total\n"
    assert parse_docstring(google) == ("Sum.", {"a": "first", "b": "second more"})
    assert parse_docstring(numpy) == ("Sum.", {"a": "first", "b": "second"})
    assert parse_docstring(rest) == ("Sum.", {"a": "first", "b": "second"})

    def numpy_fn(a: int, b: int) -> int:
        return a + b

    numpy_fn.__doc__ = numpy
    t = tool(numpy_fn)
    assert t.parameters["properties"]["b"]["description"] == "second"
    assert t.call({"a": 1, "b": 2}) == "3"


def test_untyped_argument_is_a_clear_error():
    with pytest.raises(ToolError, match=r"argument 'x' has no type hint.*annotate it, e.g. 'x: str'"):
        @tool
        def untyped(x) -> str:
            """Do.

            Args:
                x: a thing
            """
            return x


def test_argument_without_help_is_a_clear_error_unless_allowed():
    with pytest.raises(ToolError, match=r"does not describe argument 'y'.*Args:"):
        @tool
        def half_documented(x: int, y: int) -> int:
            """Add.

            Args:
                x: first
            """
            return x + y

    @tool(require_docs=False)
    def relaxed(x: int) -> int:
        """Return x."""
        return x

    assert relaxed.call({"x": 1}) == "1"


@pytest.mark.parametrize(
    "source, match",
    [
        ("def f(*args: int) -> int:\n    'Do.'\n    return 0", r"'\*args' cannot be a tool argument"),
        ("def f() -> int:\n    return 0", "has no description"),
        ("def f(x: 'Undefined') -> int:\n    'Do.\\n\\n    Args:\\n        x: it\\n    '\n    return 0", "cannot resolve its type hints"),
        ("def f(x: object) -> int:\n    'Do.\\n\\n    Args:\\n        x: it\\n    '\n    return 0", None),
    ],
)
def test_other_definition_errors(source, match):
    ns: dict = {}
    exec(source, ns)
    if match is None:  # object is allowed (any JSON value)
        assert tool(ns["f"]).call({"x": [1]}) == "0"
        return
    with pytest.raises(ToolError, match=match):
        tool(ns["f"])


def test_bad_names_and_non_schema_types():
    def f(x: int) -> int:
        """Do.

        Args:
            x: it
        """
        return x

    with pytest.raises(ToolError, match="not valid"):
        tool(name="has space")(f)

    def g(cb: threading.Lock) -> int:  # not describable as JSON schema
        """Do.

        Args:
            cb: a lock
        """
        return 0

    with pytest.raises(ToolError, match="cannot be described as JSON schema"):
        tool(g)


def test_tool_that_raises_gives_tool_error_with_cause():
    @tool
    def explode(x: int) -> int:
        """Divide by x.

        Args:
            x: the divisor
        """
        return 1 // x

    with pytest.raises(ToolError, match=r"Tool 'explode' failed: ZeroDivisionError") as info:
        explode.call({"x": 0})
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert explode.call({"x": 1}) == "1"  # still usable


def test_tool_that_hangs_times_out():
    release = threading.Event()

    @tool(timeout=0.3)
    def hang(seconds: float) -> str:
        """Wait.

        Args:
            seconds: how long
        """
        release.wait(seconds)
        return "done"

    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"'hang' did not finish within 0.3 s"):
        hang.call({"seconds": 30})
    assert time.monotonic() - start < 2
    release.set()
    assert hang.call({"seconds": 0}) == "done"


def test_async_function_tool_and_acall():
    @tool(name="async_echo")
    async def echo(text: str) -> str:
        """Echo.

        Args:
            text: what to echo
        """
        await asyncio.sleep(0)
        return text * 2

    assert echo.name == "async_echo"
    assert echo.call({"text": "ab"}) == "abab"
    assert asyncio.run(echo.acall({"text": "c"})) == "cc"
    assert isinstance(echo, FunctionTool) and echo.fn.__name__ == "echo"


def test_stateful_tool_subclass_with_typed_forward():
    class Counter(Tool):
        """Count calls.

        Args:
            step: how much to add
        """

        name = "counter"

        def __init__(self, start: int = 0):
            super().__init__()
            self.total = start

        def forward(self, step: int = 1) -> int:
            self.total += step
            return self.total

    c = Counter(10)
    assert c.call({"step": 5}) == "15" and c.call({}) == "16"
    assert c.description == "Count calls."
    assert c.parameters["properties"]["step"]["description"] == "how much to add"
    with pytest.raises(ToolValidationError, match="'steps' is not an argument"):
        c.call({"steps": 1})


def test_stateful_tool_subclass_with_args_model():
    class Args(BaseModel):
        query: str = Field(description="what to look up")
        limit: int = Field(3, ge=1, le=10)

    class Lookup(Tool):
        name = "lookup"
        description = "Look something up."
        args_schema = Args

        def forward(self, query: str, limit: int) -> list[str]:
            return [query] * limit

    t = Lookup()
    assert t.call({"query": "x", "limit": 2}) == '["x", "x"]'
    assert t.parameters["additionalProperties"] is False  # unknown keys refused although Args allows them
    with pytest.raises(ToolValidationError, match=r"argument 'limit': Input should be less than or equal to 10"):
        t.call({"query": "x", "limit": 99})


def test_tool_subclass_without_forward_or_description():
    class NoForward(Tool):
        name = "nf"
        description = "x"

    with pytest.raises(ToolError, match="does not define forward"):
        NoForward()

    class NoDescription(Tool):
        name = "nd"

        def forward(self, x: int) -> int:
            """Args:
                x: it
            """
            return x

    with pytest.raises(ToolError, match="has no description"):
        NoDescription()
    assert NoDescription(description="Return x.").call({"x": 3}) == "3"


def test_subclass_of_a_builtin_and_subclass_without_super_init():
    from augment.tools.calculator import Calculator

    class MyCalc(Calculator):
        name = "my_calc"

    c = MyCalc()
    assert c.description.startswith("Evaluate an arithmetic expression") and c.call({"expression": "1+1"}) == "2"

    class Lazy(Tool):
        """Return a constant."""

        name = "lazy"

        def __init__(self, value: int):  # forgets super().__init__()
            self.value = value

        def forward(self, times: int = 1) -> int:
            """Args:
                times: a multiplier
            """
            return self.value * times

    assert Lazy(7).call({"times": 2}) == "14"
    assert Lazy(1).spec()["function"]["parameters"]["properties"]["times"]["type"] == "integer"
