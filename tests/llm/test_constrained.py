"""Constrained decoding on the real default model: JSON schema output and tool calls that always validate."""

from __future__ import annotations

from typing import Literal

import jsonschema
import pytest
from pydantic import BaseModel

from augment.errors import ConfigError
from augment.llm.base import GenerateOptions
from augment.llm.constrained import FINAL_ANSWER, parse_constrained, tool_call_schema
from augment.tools import builtin, tool


class Address(BaseModel):
    city: str
    zip_code: int


class Person(BaseModel):
    name: str
    role: Literal["admin", "user", "guest"]
    tags: list[str]
    address: Address


@tool
def book_room(room: Literal["red", "blue", "green"], people: list[int], host: Address, note: str | None = None) -> str:
    """Book a meeting room.

    Args:
        room: which room
        people: ids of the people invited
        host: where the host lives
        note: an optional note
    """
    return f"booked {room}"


CALC = builtin("calculator")


# ---- schema building (no model) ---------------------------------------------
def test_tool_call_schema_hoists_defs_and_adds_final_answer():
    schema = tool_call_schema([book_room.spec(), CALC.spec()])
    names = [b["properties"]["name"]["const"] for b in schema["anyOf"]]
    assert names == ["book_room", "calculator", FINAL_ANSWER]
    ok = {"name": "book_room", "arguments": {"room": "red", "people": [1], "host": {"city": "Oslo", "zip_code": 1}}}
    jsonschema.validate(ok, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "book_room", "arguments": {"room": "pink", "people": [], "host": {}}}, schema)


def test_defs_of_raw_specs_are_hoisted_to_the_root():
    params = Person.model_json_schema()  # has "$defs" and "$ref": "#/$defs/Address"
    spec = {"type": "function", "function": {"name": "add_person", "parameters": params}}
    schema = tool_call_schema([CALC.spec(), spec])
    assert "t1_Address" in schema["$defs"] and "#/$defs/t1_Address" in str(schema["anyOf"][1])
    person = {"name": "Ada", "role": "admin", "tags": [], "address": {"city": "Oslo", "zip_code": 1}}
    jsonschema.validate({"name": "add_person", "arguments": person}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add_person", "arguments": {**person, "address": {"city": 1}}}, schema)


def test_tool_choice_required_and_named():
    required = tool_call_schema([book_room.spec(), CALC.spec()], "required")
    assert [b["properties"]["name"]["const"] for b in required["anyOf"]] == ["book_room", "calculator"]
    named = tool_call_schema([book_room.spec(), CALC.spec()], "calculator")
    assert [b["properties"]["name"]["const"] for b in named["anyOf"]] == ["calculator"]


def test_bad_tool_choice_and_reserved_name_are_clear_errors():
    with pytest.raises(ConfigError, match="tool_choice='weather' is not one of the tools"):
        tool_call_schema([CALC.spec()], "weather")
    reserved = {"type": "function", "function": {"name": FINAL_ANSWER, "parameters": {"type": "object"}}}
    with pytest.raises(ConfigError, match="reserves"):
        tool_call_schema([reserved])


def test_parse_constrained_maps_calls_and_answers():
    opts = GenerateOptions.build(tools=[CALC])
    text, calls, _ = parse_constrained('{"name": "calculator", "arguments": {"expression": "1+1"}}', opts)
    assert text == "" and calls[0].name == "calculator" and calls[0].arguments == {"expression": "1+1"}
    text, calls, _ = parse_constrained('{"name": "final_answer", "arguments": {"answer": "Paris"}}', opts)
    assert (text, calls) == ("Paris", [])


# ---- the real default model ---------------------------------------------------
@pytest.mark.real_model
def test_response_format_nested_enum_list(default_llm):
    c = default_llm.complete("Describe the admin Ada from Oslo.", response_format=Person, max_tokens=40)
    Person.model_validate(c.parsed)  # raises if the JSON does not match
    jsonschema.validate(c.parsed, Person.model_json_schema())
    assert c.text.startswith("{") and c.parsed["role"] in {"admin", "user", "guest"}


@pytest.mark.real_model
def test_cut_off_json_is_still_closed(default_llm):
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    c = default_llm.complete("Tell a long story about a dragon.", response_format=schema, max_tokens=4)
    jsonschema.validate(c.parsed, schema)


@pytest.mark.real_model
def test_batch_of_tool_calls_all_validate(default_llm):
    tools = [book_room, CALC]
    prompts = [
        "Book the blue room for people 3 and 7; the host lives in Oslo, zip 150.",
        "What is 12 * (3 + 4)?",
    ]
    # max_tokens is short on purpose: a call cut off there is closed by the grammar and still validates
    completions = default_llm.batch(prompts, tools=tools, tool_choice="required", max_tokens=24)
    assert len(completions) == 2
    by_name = {t.name: t for t in tools}
    for c in completions:
        assert c.finish_reason == "tool_calls" and len(c.tool_calls) == 1
        call = c.tool_calls[0]
        by_name[call.name].validate(call.arguments)  # raises ToolValidationError if invalid


@pytest.mark.real_model
def test_named_tool_choice_and_auto_answer(default_llm):
    c = default_llm.complete("Compute 2 to the power 10.", tools=[CALC, book_room], tool_choice="calculator",
                             max_tokens=24)
    assert c.tool_calls[0].name == "calculator"
    CALC.validate(c.tool_calls[0].arguments)
    auto = default_llm.complete("Say hello.", tools=[CALC], max_tokens=16)
    if auto.tool_calls:  # auto: either a valid call or a plain answer
        CALC.validate(auto.tool_calls[0].arguments)
    else:
        assert auto.finish_reason in {"stop", "length"} and isinstance(auto.text, str)
