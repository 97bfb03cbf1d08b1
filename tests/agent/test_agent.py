"""Agent loop logic with a scripted FakeLLM: errors become observations, limits are results."""

from __future__ import annotations

import time

import pytest

from augment.agent import Agent, AgentResult, AgentStep
from augment.errors import ConfigError, ScriptExhaustedError
from augment.llm.fake import FakeLLM
from augment.tools import builtin, tool
from augment.types import Completion, ToolCall


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b.

    Args:
        a: the dividend
        b: the divisor
    """
    return a / b


@tool(timeout=0.2)
def slow() -> str:
    """A tool that hangs."""
    time.sleep(3)
    return "never"


CALC = builtin("calculator")


def test_tool_call_then_final_answer():
    llm = FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "391"])
    result = Agent(llm, [CALC]).run("What is 17 * 23?")
    assert isinstance(result, AgentResult) and result.complete and result.answer == "391"
    first, last = result.steps
    assert (first.tool, first.arguments, first.observation, first.error) == ("calculator", {"expression": "17 * 23"}, "391", None)
    assert last.final and not first.final
    assert first.seconds >= 0 and first.tokens > 0
    # the model saw the observation as a tool message tied to its call
    tool_msg = llm.calls[1].messages[-1]
    assert tool_msg.role == "tool" and tool_msg.content == "391" and tool_msg.tool_call_id == first.call_id
    # tools were offered as OpenAI specs with tool_choice auto
    assert llm.calls[0].options.tools[0]["function"]["name"] == "calculator"
    assert llm.calls[0].options.tool_choice == "auto"


def test_tool_exception_becomes_observation():
    llm = FakeLLM([ToolCall("divide", {"a": 1, "b": 0}), "cannot divide by zero"])
    result = Agent(llm, [divide]).run("1/0?")
    step = result.steps[0]
    assert step.error == "tool_error" and "ZeroDivisionError" in step.observation
    assert result.complete and "ZeroDivisionError" in llm.calls[1].messages[-1].content


def test_validation_error_becomes_observation_and_model_retries():
    llm = FakeLLM([ToolCall("divide", {"a": "ten"}), ToolCall("divide", {"a": 10, "b": 4}), "2.5"])
    result = Agent(llm, [divide]).run("10/4?")
    bad, good, final = result.steps
    assert bad.error == "invalid_arguments" and "b" in bad.observation
    assert good.error is None and good.observation == "2.5"
    assert final.text == "2.5"


def test_timeout_becomes_observation():
    result = Agent(FakeLLM([ToolCall("slow", {}), "gave up"]), [slow]).run("wait")
    assert result.steps[0].error == "timeout" and "0.2" in result.steps[0].observation
    assert result.answer == "gave up"


def test_unknown_tool_becomes_observation():
    result = Agent(FakeLLM([ToolCall("weather", {"city": "Oslo"}), "no idea"]), [CALC]).run("Weather?")
    step = result.steps[0]
    assert step.error == "unknown_tool" and "calculator" in step.observation and result.complete


def test_max_steps_returns_incomplete_result():
    llm = FakeLLM([ToolCall("calculator", {"expression": f"{i} + 1"}) for i in range(10)])
    result = Agent(llm, [CALC], max_steps=3).run("loop forever")
    assert result.complete is False and result.answer is None and len(result.steps) == 3
    assert "without a final answer" in result.trace()


def test_repeated_call_is_not_rerun_and_the_next_turn_must_answer():
    call = {"expression": "2 + 2"}
    llm = FakeLLM([ToolCall("calculator", call), ToolCall("calculator", call), "4"])
    result = Agent(llm, [CALC]).run("2+2")
    # the earlier result, clean (no agent note the model could copy into its answer)
    assert result.steps[1].observation == "4" and result.steps[1].error == "repeated"
    assert [c.options.tool_choice for c in llm.calls] == ["auto", "auto", "none"]
    assert result.answer == "4" and result.complete


def test_parallel_calls_in_one_completion_are_all_run():
    both = Completion("", tool_calls=[ToolCall("calculator", {"expression": "1+1"}),
                                      ToolCall("calculator", {"expression": "2+2"})], finish_reason="tool_calls")
    result = Agent(FakeLLM([both, "2 and 4"]), [CALC]).run("both")
    assert [s.observation for s in result.steps[:2]] == ["2", "4"]


def test_stream_yields_steps_as_they_happen_then_result():
    llm = FakeLLM([ToolCall("calculator", {"expression": "2 ** 10"}), "1024"])
    events = []
    for event in Agent(llm, [CALC]).stream("2^10"):
        events.append(event)
        if len(events) == 1:  # the first step arrives before the model is asked again
            assert isinstance(event, AgentStep) and len(llm.calls) == 1
    assert [type(e) for e in events] == [AgentStep, AgentStep, AgentResult]
    assert events[-1].answer == "1024"


def test_memory_keeps_earlier_runs():
    llm = FakeLLM(["Ada", "Your name is Ada."])
    agent = Agent(llm, [CALC], memory=True)
    agent.run("My name is Ada. Say my name.")
    agent.run("What is my name?")
    contents = [m.content for m in llm.calls[1].messages]
    assert "My name is Ada. Say my name." in contents and "Ada" in contents
    agent.reset()
    no_memory = Agent(FakeLLM(["a", "b"]), [CALC])
    no_memory.run("first")
    no_memory.run("second")
    assert "first" not in [m.content for m in no_memory.llm.calls[1].messages]


def test_system_prompt_and_no_tools():
    llm = FakeLLM(["hi"])
    result = Agent(llm, system_prompt="Be terse.").run("hello")
    assert result.answer == "hi" and llm.calls[0].messages[0].content == "Be terse."
    assert llm.calls[0].options.tools is None


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ConfigError, match="max_steps"):
        Agent(FakeLLM([]), [CALC], max_steps=0)
    with pytest.raises(ConfigError, match="augment LLM"):
        Agent("gpt", [CALC])
    with pytest.raises(ConfigError, match="empty"):
        Agent(FakeLLM([]), [CALC]).run("  ")


def test_model_bugs_are_raised_not_swallowed():
    with pytest.raises(ScriptExhaustedError):
        Agent(FakeLLM([]), [CALC]).run("anything")


def test_trace_and_dict():
    result = Agent(FakeLLM([ToolCall("calculator", {"expression": "3*3"}), "9"]), [CALC]).run("3*3")
    assert 'calculator({"expression": "3*3"}) -> 9' in result.trace()
    d = result.to_dict()
    assert d["answer"] == "9" and d["steps"][0]["tool"] == "calculator"
