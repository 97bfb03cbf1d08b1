"""ChatAugment behaviour beyond the standard suites: message conversion, options, tools, structured output, batching."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel
from typing_extensions import TypedDict

from augment.errors import ConfigError, InvalidMessagesError
from augment.langchain import ChatAugment
from augment.llm.fake import FakeLLM
from augment.types import Completion, ToolCall, Usage


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class BatchCountingLLM(FakeLLM):
    """Records how many real batch calls it got."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.batches: list[int] = []

    def generate_batch(self, conversations, options):
        self.batches.append(len(conversations))
        return super().generate_batch(conversations, options)


class StartCounter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts = 0
        self.tokens: list[str] = []

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_messages_are_converted_with_tool_history():
    llm = FakeLLM(["done"])
    history = [SystemMessage("Be brief."), HumanMessage("3*4?", name="ann"),
               AIMessage("", tool_calls=[{"name": "multiply", "args": {"a": 3, "b": 4}, "id": "c1"}]),
               ToolMessage("12", tool_call_id="c1"),
               HumanMessage([{"type": "text", "text": "And "}, "so?"])]
    assert ChatAugment(llm=llm).invoke(history).content == "done"
    sent = llm.calls[0].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[1].name == "ann"
    assert [(c.name, c.arguments, c.id) for c in sent[2].tool_calls] == [("multiply", {"a": 3, "b": 4}, "c1")]
    assert (sent[3].tool_call_id, sent[4].content) == ("c1", "And so?")


def test_image_content_is_a_clear_error():
    msg = HumanMessage([{"type": "image", "url": "https://example.com/cat.png"}])
    with pytest.raises(InvalidMessagesError, match="text only"):
        ChatAugment(llm=FakeLLM(["x"])).invoke([msg])


def test_defaults_call_options_stop_and_model_override():
    llm = FakeLLM(["a", "b"])
    chat = ChatAugment(llm=llm, max_tokens=7, temperature=0.3, seed=1, stop=["END"])
    chat.invoke("hi")
    chat.invoke("hi", stop=["\n"], max_tokens=3, model="my-adapter")
    first, second = llm.calls[0].options, llm.calls[1].options
    assert (first.max_tokens, first.temperature, first.seed, first.stop, first.adapter) == (7, 0.3, 1, ["END"], None)
    assert (second.max_tokens, second.stop, second.adapter) == (3, ["\n"], "my-adapter")
    assert chat._get_ls_params(model="other")["ls_model_name"] == "other"
    with pytest.raises(ConfigError, match="unknown option 'frequency_penalty'"):
        chat.invoke("hi", frequency_penalty=1.0)


def test_invoke_reports_usage_finish_reason_and_model_name():
    llm = FakeLLM([Completion("ok", finish_reason="length", usage=Usage(9, 2), model="m1")])
    msg = ChatAugment(llm=llm).invoke("hi")
    assert msg.usage_metadata == {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
    assert msg.response_metadata["finish_reason"] == "length" and msg.response_metadata["model_name"] == "m1"


def test_bind_tools_converts_tools_and_tool_choice():
    llm = FakeLLM([ToolCall("multiply", {"a": 2, "b": 5}, id="t1"), "x"])
    chat = ChatAugment(llm=llm)
    msg = chat.bind_tools([multiply, Person], tool_choice="any").invoke("2*5?")
    assert msg.tool_calls == [{"name": "multiply", "args": {"a": 2, "b": 5}, "id": "t1", "type": "tool_call"}]
    opts = llm.calls[0].options
    assert [t["function"]["name"] for t in opts.tools] == ["multiply", "Person"] and opts.tool_choice == "required"
    assert opts.tools[0]["function"]["parameters"]["required"] == ["a", "b"]
    chat.bind_tools([multiply], tool_choice={"type": "function", "function": {"name": "multiply"}}).invoke("x")
    assert llm.calls[1].options.tool_choice == "multiply"
    with pytest.raises(ConfigError, match="bound tool name"):
        chat.bind_tools([multiply], tool_choice="divide")


def test_streamed_tool_call_aggregates_and_last_chunk_carries_usage():
    llm = FakeLLM([ToolCall("multiply", {"a": 1, "b": 2}, id="t9")])
    chunks = list(ChatAugment(llm=llm).bind_tools([multiply]).stream("1*2"))
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.tool_calls == [{"name": "multiply", "args": {"a": 1, "b": 2}, "id": "t9", "type": "tool_call"}]
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata["output_tokens"] == 1


def test_stream_yields_deltas_and_reports_tokens_to_callbacks():
    counter = StartCounter()
    chunks = list(ChatAugment(llm=FakeLLM(["one two three"])).stream("count", config={"callbacks": [counter]}))
    assert [c.content for c in chunks] == ["one ", "two ", "three", ""]
    assert counter.tokens[:3] == ["one ", "two ", "three"]


@pytest.mark.parametrize("schema, expected", [
    (Person, Person(name="Ada", age=36)),
    (Person.model_json_schema(), {"name": "Ada", "age": 36}),
    (TypedDict("PersonDict", {"name": str, "age": int}), {"name": "Ada", "age": 36}),
])
def test_structured_output_json_schema(schema, expected):
    llm = FakeLLM([{"name": "Ada", "age": 36}])
    out = ChatAugment(llm=llm).with_structured_output(schema, max_tokens=40).invoke("Who?")
    assert out == expected
    opts = llm.calls[0].options
    assert opts.response_format["properties"]["age"]["type"] == "integer" and opts.max_tokens == 40


def test_structured_output_function_calling_and_json_mode():
    llm = FakeLLM([ToolCall("Person", {"name": "Bo", "age": 5}), '{"name": "Cy", "age": 7}'])
    chat = ChatAugment(llm=llm)
    assert chat.with_structured_output(Person, method="function_calling").invoke("?") == Person(name="Bo", age=5)
    assert llm.calls[0].options.tool_choice == "Person"
    assert chat.with_structured_output(Person, method="json_mode").invoke("?") == Person(name="Cy", age=7)
    assert llm.calls[1].options.response_format == {"type": "json_object"}
    with pytest.raises(ConfigError, match="method"):
        chat.with_structured_output(Person, method="xml")


def test_structured_output_include_raw_keeps_the_parse_error():
    out = ChatAugment(llm=FakeLLM(["not json at all"])).with_structured_output(Person, include_raw=True).invoke("?")
    assert out["parsed"] is None and out["raw"].content == "not json at all"
    assert "not valid JSON" in str(out["parsing_error"])


def test_batch_is_one_real_batch_with_a_run_per_input():
    llm = BatchCountingLLM(["a", "b", "c"])
    counter = StartCounter()
    out = ChatAugment(llm=llm, max_tokens=5).batch(["q1", "q2", "q3"], config={"callbacks": [counter]})
    assert [m.content for m in out] == ["a", "b", "c"]
    assert llm.batches == [3] and counter.starts == 3 and len(llm.calls) == 3


async def test_async_invoke_stream_and_batch():
    llm = BatchCountingLLM(["x y", "z", "p", "q"])
    chat = ChatAugment(llm=llm)
    assert (await chat.ainvoke("hi")).content == "x y"
    assert [c.content async for c in chat.astream("hi")][:1] == ["z"]
    assert [m.content for m in await chat.abatch(["1", "2"])] == ["p", "q"]
    assert llm.batches == [2]


def test_bad_llm_is_a_config_error():
    with pytest.raises(ConfigError, match="augment LLM"):
        ChatAugment(llm=object())


def test_openai_spec_builds_a_remote_model_over_a_real_server():
    from augment.serve import make_server

    fake = FakeLLM(["served!"])
    with make_server(fake, port=0, model_name="fake") as server:
        chat = ChatAugment(model="openai:fake", base_url=server.url, api_key="sk-1", max_retries=0, timeout=5)
        assert chat.invoke("hi").content == "served!"
        assert chat.llm.base_url == server.url and chat.llm.max_retries == 0
