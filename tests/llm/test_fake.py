"""FakeLLM: the scripted test double shipped for users' own tests."""

from __future__ import annotations

import pytest

from augment.errors import ScriptExhaustedError
from augment.llm.fake import FakeLLM
from augment.types import Completion, ToolCall


def test_replies_in_order_and_calls_recorded():
    llm = FakeLLM(["one", "two"])
    assert llm.complete("a").text == "one"
    assert llm.complete([{"role": "system", "content": "s"}, {"role": "user", "content": "b"}], max_tokens=9).text == "two"
    assert [c.messages[-1].content for c in llm.calls] == ["a", "b"]
    assert llm.calls[1].options.max_tokens == 9
    assert llm.last_messages[0].role == "system"


def test_exhausted_script_raises_with_fix_and_cycle_repeats():
    llm = FakeLLM(["only"])
    llm.complete("x")
    with pytest.raises(ScriptExhaustedError, match="enqueue"):
        llm.complete("y")
    cyc = FakeLLM(["a", "b"], cycle=True)
    assert [cyc.complete("q").text for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_tool_calls_dicts_completions_and_callables():
    call = ToolCall("calculator", {"expression": "2+2"})
    done = Completion("custom", finish_reason="length")
    llm = FakeLLM([call, [call, ToolCall("now")], {"city": "Paris"}, done, lambda msgs, opts: msgs[-1].content[::-1]])
    c1 = llm.complete("q")
    assert c1.tool_calls == [call] and c1.finish_reason == "tool_calls" and c1.text == ""
    assert [t.name for t in llm.complete("q").tool_calls] == ["calculator", "now"]
    c3 = llm.complete("q")
    assert c3.parsed == {"city": "Paris"} and c3.text == '{"city": "Paris"}'
    assert llm.complete("q") is done
    assert llm.complete("abc").text == "cba"


def test_stop_and_max_tokens_are_applied():
    llm = FakeLLM(["alpha beta gamma delta", "one two. three"], cycle=True)
    c = llm.complete("q", max_tokens=2)
    assert c.text == "alpha beta" and c.finish_reason == "length"
    c = llm.complete("q", stop=["."])
    assert c.text == "one two" and c.finish_reason == "stop"


def test_stream_yields_word_pieces_then_completion_and_enqueue():
    llm = FakeLLM().enqueue("hello big world")
    items = list(llm.stream("q"))
    assert items[:-1] == ["hello ", "big ", "world"]
    assert isinstance(items[-1], Completion) and "".join(items[:-1]) == items[-1].text


async def test_fake_async_and_batch():
    llm = FakeLLM(["a", "b", "c"])
    assert [c.text for c in llm.batch(["1", "2"])] == ["a", "b"]
    assert (await llm.acomplete("3")).text == "c"
    assert len(llm.calls) == 3
