"""Our tools as LangChain tools (langchain-tests standard suites) and LangChain tools as ours."""

from __future__ import annotations

from typing import Literal, Optional

import pytest
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests
from pydantic import BaseModel, Field

from augment.errors import ToolError, ToolValidationError
from augment.langchain import from_langchain_tool, to_langchain_tool
from augment.tools import builtin, tool


class Item(BaseModel):
    name: str = Field(description="item name")
    quantity: int = Field(1, ge=1)


@tool
def order(customer: str, items: list[Item], priority: Literal["normal", "express"] = "normal", note: Optional[str] = None) -> dict:
    """Place an order.

    Args:
        customer: who orders
        items: what to order
        priority: shipping speed
        note: a note for the packer
    """
    return {"customer": customer, "count": sum(i.quantity for i in items), "priority": priority}


class CalculatorParams:
    """The calculator built-in, converted."""

    @property
    def tool_constructor(self) -> BaseTool:
        return to_langchain_tool(builtin("calculator"))

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"expression": "2 + 3 * 4"}


class OrderParams:
    """A @tool with a list of nested pydantic models and a Literal, converted."""

    @property
    def tool_constructor(self) -> BaseTool:
        return to_langchain_tool(order)

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"customer": "Ada", "items": [{"name": "tea", "quantity": 2}], "priority": "express"}


class TestCalculatorUnit(CalculatorParams, ToolsUnitTests):
    pass


class TestCalculatorIntegration(CalculatorParams, ToolsIntegrationTests):
    pass


class TestOrderUnit(OrderParams, ToolsUnitTests):
    pass


class TestOrderIntegration(OrderParams, ToolsIntegrationTests):
    pass


def test_converted_tool_keeps_schema_and_results():
    lc = to_langchain_tool(order)
    assert isinstance(lc, StructuredTool) and lc.name == "order" and lc.description == "Place an order."
    assert lc.args_schema is order.args_model
    assert lc.tool_call_schema.model_json_schema()["properties"]["priority"]["enum"] == ["normal", "express"]
    out = lc.invoke({"customer": "Ada", "items": [{"name": "tea", "quantity": 2}, {"name": "milk"}]})
    assert out == '{"customer": "Ada", "count": 3, "priority": "normal"}'
    # tool errors become the tool's content, as in our agent
    assert "division by zero" in to_langchain_tool(builtin("calculator")).invoke({"expression": "1/0"})
    with pytest.raises(ToolException, match="division by zero"):
        to_langchain_tool(builtin("calculator"), handle_tool_error=False).invoke({"expression": "1/0"})


async def test_converted_tool_async():
    lc = to_langchain_tool(builtin("calculator"))
    assert await lc.ainvoke({"expression": "2 ** 8"}) == "256"


def test_from_langchain_tool_pydantic_schema():
    @lc_tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    ours = from_langchain_tool(multiply)
    assert ours.name == "multiply" and ours.description == "Multiply two integers."
    assert ours.parameters["required"] == ["a", "b"] and ours.parameters["properties"]["a"]["type"] == "integer"
    assert ours.call({"a": "6", "b": 7}) == "42"
    with pytest.raises(ToolValidationError, match=r"argument 'b' is missing.*'c' is not an argument"):
        ours.call({"a": 1, "c": 2})

    def fail(x: str) -> str:
        raise ToolException(f"cannot handle {x}")

    failing = from_langchain_tool(StructuredTool.from_function(fail, name="fail tool", description="Always fails."))
    assert failing.name == "fail_tool"
    with pytest.raises(ToolError, match="cannot handle boom"):
        failing.call({"x": "boom"})


def test_from_langchain_tool_json_schema_dict():
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "a city"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
        "additionalProperties": False,
    }
    lc = StructuredTool(
        name="forecast", description="Weather forecast.", args_schema=schema,
        func=lambda city, days=1: f"{city}: sunny for {days} days",
    )
    ours = from_langchain_tool(lc)
    assert ours.parameters["properties"]["city"]["description"] == "a city"
    assert ours.call({"city": "Oslo", "days": 2}) == "Oslo: sunny for 2 days"
    with pytest.raises(ToolValidationError, match=r"argument 'days': 0 is less than the minimum of 1"):
        ours.call({"city": "Oslo", "days": 0})
    with pytest.raises(ToolValidationError, match="'city' is a required property"):
        ours.call({})


def test_round_trip_and_bad_inputs():
    calc = builtin("calculator")
    back = from_langchain_tool(to_langchain_tool(calc))
    assert back.parameters == calc.parameters and back.call({"expression": "3 * 3"}) == "9"
    with pytest.raises(ToolError, match="needs an augment Tool"):
        to_langchain_tool(lambda x: x)
    with pytest.raises(ToolError, match="needs a LangChain BaseTool"):
        from_langchain_tool(calc)
