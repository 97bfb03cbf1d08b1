"""Error paths of the agent: every run returns a result with its trace; bad input gets a clear error."""

from __future__ import annotations

import time

import pytest

from augment import Agent, FakeLLM, ToolCall
from augment.agent import final_answer
from augment.errors import APIError, InvalidMessagesError
from augment.llm.base import LLM
from augment.tools import builtin, tool
from augment.types import Completion

CALC = builtin("calculator")


@tool
def quitter(code: int) -> str:
    """Exit the interpreter (a badly written tool).

    Args:
        code: the exit code
    """
    raise SystemExit(code)


@tool
def interrupter(x: int) -> str:
    """A tool the user interrupts with Ctrl-C.

    Args:
        x: anything
    """
    raise KeyboardInterrupt


def test_a_tool_raising_system_exit_becomes_an_observation():
    result = Agent(FakeLLM([ToolCall("quitter", {"code": 3}), "it failed"]), [quitter]).run("quit")
    step = result.steps[0]
    assert step.error == "tool_error" and "SystemExit" in step.observation
    assert result.complete and result.answer == "it failed"


def test_keyboard_interrupt_in_a_tool_stops_cleanly_with_the_trace():
    llm = FakeLLM([ToolCall("calculator", {"expression": "1 + 1"}), ToolCall("interrupter", {"x": 1}), "never"])
    result = Agent(llm, [CALC, interrupter]).run("go")
    assert not result.complete and result.answer is None
    assert "interrupted" in result.error
    assert [s.tool for s in result.steps] == ["calculator", "interrupter"]
    assert result.steps[0].observation == "2"
    assert "interrupted" in result.trace()


class FailsSecondTime(LLM):
    """A model whose server breaks after the first call."""

    def __init__(self):
        self.n = 0

    def generate(self, messages, options):
        self.n += 1
        if self.n == 1:
            return Completion("", tool_calls=[ToolCall("calculator", {"expression": "6 * 7"})], finish_reason="tool_calls")
        raise APIError("the server answered 503 Service Unavailable")


def test_a_model_error_mid_run_keeps_the_partial_trace():
    result = Agent(FailsSecondTime(), [CALC]).run("6*7")
    assert not result.complete and result.answer is None
    assert "503" in result.error and "APIError" in result.error
    assert len(result.steps) == 1 and result.steps[0].observation == "42"
    assert result.to_dict()["error"] == result.error


def test_the_trace_shows_non_dict_arguments_as_sent():
    result = Agent(FakeLLM([ToolCall("calculator", "2 + 2"), "done"]), [CALC]).run("x")  # type: ignore[arg-type]
    step = result.steps[0]
    assert step.arguments == "2 + 2"
    assert '"2 + 2"' in step.describe()


def test_timed_out_call_is_not_rerun_when_repeated():
    runs = []

    @tool(timeout=0.2)
    def slow(n: int) -> str:
        """Sleep a while.

        Args:
            n: a number
        """
        runs.append(n)
        time.sleep(1.0)
        return "late"

    llm = FakeLLM([ToolCall("slow", {"n": 1}), ToolCall("slow", {"n": 1}), "gave up"])
    result = Agent(llm, [slow]).run("slow")
    assert [s.error for s in result.steps[:2]] == ["timeout", "repeated"]
    assert runs == [1]  # one worker thread, not one per identical call
    assert result.answer == "gave up"


def test_empty_final_answer_falls_back_to_the_last_result_and_says_so():
    result = Agent(FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), ' "}} '], cycle=False), [CALC]).run("17*23")
    final = result.steps[-1]
    assert result.answer == "391" and final.error == "empty_answer"


@pytest.mark.parametrize("raw, clean", [('}} 391 "}', "391"), ("Paris", "Paris"), ('{"answer": ', "answer"), ("  ", "")])
def test_final_answer_strips_stray_json(raw, clean):
    assert final_answer(raw) == clean


def test_lone_surrogate_is_a_clear_error():
    with pytest.raises(InvalidMessagesError, match="not valid Unicode"):
        FakeLLM(["x"]).complete("bad \ud800 text")
