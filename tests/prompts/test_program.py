"""ProgramOfThought: the model writes an expression or a program, a real tool runs it, results vote."""

from __future__ import annotations

import re

import pytest

from augment.errors import ConfigError
from augment.llm.fake import FakeLLM
from augment.prompts import EXPRESSION_PATTERN, FewShot, ProgramOfThought, PromptTemplate, SelfConsistency
from augment.tools.calculator import Calculator
from augment.tools.python import PythonTool

TEMPLATE = PromptTemplate([("system", "You solve short math word problems."), ("user", "Question: {question}")])
Q = "Tom has 3 boxes of 12 eggs and 4 loose eggs. How many eggs?"


def test_expression_is_constrained_executed_and_parsed():
    llm = FakeLLM([{"expression": "3 * 12 + 4"}])
    pot = ProgramOfThought(TEMPLATE, llm, Calculator())
    r = pot(question=Q)
    assert (r.program, r.output, r.answer, r.ok, r.error) == ("3 * 12 + 4", "40", 40, True, None)
    opts = llm.calls[0].options
    assert opts.response_format["properties"]["expression"]["pattern"] == EXPRESSION_PATTERN
    assert opts.temperature == 0.0 and opts.max_tokens == 64
    assert llm.calls[0].messages[-1].content.endswith("Write one arithmetic expression that computes the answer, "
                                                      "using only numbers from the question.")
    assert re.match(EXPRESSION_PATTERN, "(3 + 4) * 2.5") and not re.match(EXPRESSION_PATTERN, "import os")


def test_tool_errors_are_recorded_not_raised():
    pot = ProgramOfThought(TEMPLATE, FakeLLM([{"expression": "1 / 0"}, {"expression": ""}]), Calculator())
    r = pot(question=Q)
    assert not r.ok and r.answer is None and r.output is None and "division by zero" in r.error
    assert pot(question=Q).error == "empty program"


def test_python_programs_run_in_the_sandbox_unconstrained():
    llm = FakeLLM(["```python\nboxes = 3 * 12\nprint(boxes + 4)\n```"])
    pot = ProgramOfThought(TEMPLATE, llm, PythonTool(timeout=10), constrained=False)
    r = pot(question=Q)
    assert pot.argument == "code" and r.program == "boxes = 3 * 12\nprint(boxes + 4)" and r.answer == 40
    assert llm.calls[0].options.response_format is None
    assert "Python program" in llm.calls[0].messages[-1].content


def test_run_many_is_one_batched_call():
    llm = FakeLLM([{"expression": "2 + 2"}, {"expression": "3 * 3"}])
    pot = ProgramOfThought(TEMPLATE, llm, Calculator())
    calls = []
    llm.generate_batch = lambda convs, opts: calls.append(len(convs)) or [llm.generate(c, opts) for c in convs]
    rs = pot.run_many([{"question": "a"}, {"question": "b"}])
    assert [r.answer for r in rs] == [4, 9] and calls == [2]


def test_votes_over_executed_results():
    # three programs: two different expressions give 40, one gives 36: 40 wins although no text repeats
    llm = FakeLLM([{"expression": "3 * 12 + 4"}, {"expression": "3 * 12"}, {"expression": "4 + 12 * 3"}])
    pot = ProgramOfThought(TEMPLATE, llm, Calculator())
    v = pot.vote(n=3, temperature=0.7, seed=1, question=Q)
    assert (v.answer, v.votes, v.vote_share) == (40, {40: 2, 36: 1}, pytest.approx(2 / 3))
    assert llm.calls[0].options.temperature == 0.7 and llm.calls[0].options.seed == 1
    sc = SelfConsistency(ProgramOfThought(TEMPLATE, FakeLLM([{"expression": "5 - 1"}], cycle=True), Calculator()), n=3)
    assert sc(question=Q).answer == 4


def test_fewshot_prompt_and_plain_callable_tool():
    shots = FewShot(TEMPLATE, [{"question": "2 bags of 3", "expression": "2 * 3"}], k=1,
                    output='{{"expression": "{expression}"}}')
    llm = FakeLLM([{"expression": "7 * 6"}])
    pot = ProgramOfThought(shots, llm, lambda e: eval(e, {"__builtins__": {}}), instruction="")  # noqa: S307 (test only)
    assert pot(question=Q).answer == 42
    assert llm.calls[0].messages[2].content == '{"expression": "2 * 3"}' and llm.calls[0].messages[-1].content == "Question: " + Q


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="augment tool"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), "calculator")
    with pytest.raises(ConfigError, match="at least one program"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), Calculator()).paths({"question": Q}, 0)
    with pytest.raises(ConfigError, match="temperature"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), Calculator()).vote(n=3, temperature=0, question=Q)


def test_numbers_from_inputs_gives_each_question_its_own_grammar():
    llm = FakeLLM([{"expression": "3 * 12 + 4"}, {"expression": "7 * 2"}])
    pot = ProgramOfThought(TEMPLATE, llm, Calculator(), numbers_from_inputs=True, constants=[2])
    rs = pot.run_many([{"question": Q}, {"question": "A week has 7 days. How many days in two weeks?"}])
    assert [r.answer for r in rs] == [40, 14]
    patterns = [c.options.response_format["properties"]["expression"]["pattern"] for c in llm.calls]
    assert len(patterns) == 2  # different numbers: one call each, not one batch
    first = re.compile(patterns[0])
    assert first.match("3 * 12 + 4") and first.match("(3 + 4) * 12") and first.match("12 * 2")  # 2: a constant
    assert not first.match("3 * 13") and not first.match("37 * 12") and not first.match("312")
    # the same numbers (n sampled programs for one question) still go in one batched call
    batched = []
    llm2 = FakeLLM([{"expression": "3 * 12 + 4"}], cycle=True)
    llm2.generate_batch = lambda convs, opts: batched.append(len(convs)) or [llm2.generate(c, opts) for c in convs]
    ProgramOfThought(TEMPLATE, llm2, Calculator(), numbers_from_inputs=True).vote(n=3, question=Q)
    assert batched == [3]
    # a question without a number keeps the general expression pattern
    assert ProgramOfThought(TEMPLATE, FakeLLM([]), Calculator(), numbers_from_inputs=True).format_for(
        {"question": "no figures here"})["properties"]["expression"]["pattern"] == EXPRESSION_PATTERN


def test_numbers_from_inputs_needs_a_constrained_expression():
    with pytest.raises(ConfigError, match="numbers_from_inputs=True.*constrained=True"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), Calculator(), numbers_from_inputs=True, constrained=False)
    with pytest.raises(ConfigError, match="argument 'expression', got 'code'"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), PythonTool(), numbers_from_inputs=True)
    with pytest.raises(ConfigError, match="constants must be non-negative numbers"):
        ProgramOfThought(TEMPLATE, FakeLLM([]), Calculator(), numbers_from_inputs=True, constants=["x"])


@pytest.mark.real_model
def test_default_model_writes_a_well_formed_expression(default_llm):
    pot = ProgramOfThought(TEMPLATE, default_llm, Calculator(), max_tokens=24)
    r = pot(question="Ana has 4 bags with 12 pencils in each bag. How many pencils is that in total?")
    assert re.match(EXPRESSION_PATTERN, r.program), r.program
    assert r.error is None and r.output is not None and isinstance(r.answer, (int, float))


def test_programs_use_augments_adapter_when_it_is_loaded():
    from augment.llm.defaults import DEFAULT_ADAPTER_NAME

    tuned = FakeLLM([{"expression": "2 + 2"}], cycle=True)
    tuned.adapters = [DEFAULT_ADAPTER_NAME]  # what load_llm() loads next to the default model
    ProgramOfThought(TEMPLATE, tuned, Calculator())(question=Q)
    ProgramOfThought(TEMPLATE, tuned, Calculator(), adapter=None)(question=Q)  # the base model, on request
    assert [c.options.adapter for c in tuned.calls] == [DEFAULT_ADAPTER_NAME, None]
    plain = FakeLLM([{"expression": "2 + 2"}])
    ProgramOfThought(TEMPLATE, plain, Calculator())(question=Q)
    assert plain.calls[0].options.adapter is None
