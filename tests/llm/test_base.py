"""The LLM interface: input validation, option validation, default stream/batch, async twins."""

from __future__ import annotations

import pytest

from augment.errors import ConfigError, InvalidMessagesError
from augment.llm.base import LLM, GenerateOptions, normalize_messages, normalize_tools
from augment.llm.fake import FakeLLM
from augment.types import Completion, Message, ToolCall


class Echo(LLM):
    """Answers with the last message's content, upper-cased; counts calls."""

    model_name = "echo"

    def __init__(self) -> None:
        self.n = 0

    def generate(self, messages, options):
        self.n += 1
        return Completion(messages[-1].content.upper(), model=self.model_name)


@pytest.mark.parametrize(
    "bad, words",
    [
        ([], "empty"),
        ("   ", "empty"),
        ([{"role": "wizard", "content": "hi"}], "role"),
        ([{"role": "user", "content": 42}], "content must be a str"),
        ([{"role": "user", "content": ["a", "b"]}], "content must be a str"),
        ([{"content": "no role"}], "no 'role'"),
        ([{"role": "user", "content": "x", "extra": 1}], "unknown keys"),
        ([{"role": "system", "content": "only system"}], "add a user message"),
        (123, "str or a list"),
        (None, "str or a list"),
        ([3.5], "pass a str"),
    ],
)
def test_bad_messages_raise_clear_errors(bad, words):
    llm = Echo()
    with pytest.raises(InvalidMessagesError) as err:
        llm.complete(bad)
    assert words in str(err.value)
    assert llm.n == 0  # nothing reached the model


@pytest.mark.parametrize(
    "options, words",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_token": 10}, "unknown option 'max_token'"),
        ({"stop": 5}, "stop"),
        ({"tools": [object()]}, "tools"),
        ({"tools": [{"description": "no name"}]}, "'name'"),
    ],
)
def test_bad_options_raise_config_error(options, words):
    with pytest.raises(ConfigError) as err:
        Echo().complete("hi", **options)
    assert words in str(err.value)


def test_unknown_option_lists_known_ones():
    with pytest.raises(ConfigError, match="known options: max_tokens, temperature"):
        GenerateOptions.build(maxtokens=3)


def test_options_normalise_stop_tools_and_pydantic_schema():
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    class T:
        def spec(self):
            return {"type": "function", "function": {"name": "t", "parameters": {}}}

    o = GenerateOptions.build(stop="\n", tools=[T(), {"name": "u"}], response_format=City)
    assert o.stop == ["\n"]
    assert [t["function"]["name"] for t in o.tools] == ["t", "u"]
    assert o.response_format["properties"]["name"]["type"] == "string"
    assert not o.do_sample and GenerateOptions.build(temperature=0.5).do_sample
    assert normalize_tools(None) is None


def test_string_and_message_forms_are_accepted():
    assert normalize_messages("hi") == [Message.user("hi")]
    assert normalize_messages(Message.user("a"))[0].content == "a"
    msgs = normalize_messages([
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "content": "2", "tool_call_id": "c1"},
    ])
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[2].tool_calls[0] == ToolCall("f", {"x": 1}, id="c1")


def test_default_stream_batch_and_call():
    llm = Echo()
    items = list(llm.stream("abc"))
    assert items[0] == "ABC" and isinstance(items[-1], Completion) and items[-1].text == "ABC"
    assert [c.text for c in llm.batch(["a", [{"role": "user", "content": "b"}]])] == ["A", "B"]
    assert llm("x").text == "X"
    assert llm.batch([]) == []
    with pytest.raises(InvalidMessagesError, match="list of conversations"):
        llm.batch("not a list")
    with pytest.raises(InvalidMessagesError):
        llm.batch(["ok", []])


def test_render_prompt_and_count_tokens_defaults():
    llm = Echo()
    assert '"content": "hello"' in llm.render_prompt("hello")
    assert llm.count_tokens("abcdefgh") == 2
    assert repr(llm) == "Echo('echo')"


async def test_async_twins():
    llm = Echo()
    assert (await llm.acomplete("hi")).text == "HI"
    assert [c.text for c in await llm.abatch(["a", "b"])] == ["A", "B"]
    items = [i async for i in llm.astream("yo")]
    assert items[0] == "YO" and items[-1].text == "YO"
    with pytest.raises(InvalidMessagesError):
        await llm.acomplete([])
    with pytest.raises(ConfigError):
        await llm.acomplete("x", max_tokens=0)


async def test_astream_reraises_errors_from_worker():
    llm = FakeLLM([])  # nothing scripted: the worker raises
    from augment.errors import ScriptExhaustedError

    with pytest.raises(ScriptExhaustedError):
        async for _ in llm.astream("hi"):
            pass
