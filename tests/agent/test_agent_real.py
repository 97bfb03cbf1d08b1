"""One agent run on the real default model: every tool call it makes parses and validates."""

from __future__ import annotations

import pytest

from augment.agent import Agent
from augment.tools import builtin


@pytest.mark.real_model
def test_real_model_agent_with_calculator(default_llm):
    calc = builtin("calculator")
    agent = Agent(default_llm, [calc], max_steps=2, options={"max_tokens": 40})
    result = agent.run("What is 17 * 23? Use the calculator.")
    assert result.steps, "the agent made no step"
    for step in result.steps:
        assert step.prompt_tokens > 0 and step.seconds > 0
        if step.tool is not None:  # constrained decoding: known tool, arguments that validate
            assert step.tool == "calculator" and step.error in (None, "tool_error", "repeated")
            calc.validate(step.arguments)
    if result.complete:
        assert isinstance(result.answer, str) and result.steps[-1].final
    else:
        assert result.answer is None and len(result.steps) == 2
