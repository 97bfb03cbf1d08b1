"""ChainOfThought and SelfConsistency with FakeLLM (logic) and the real default model (batched sampling)."""

from __future__ import annotations

import pytest

from augment.errors import ConfigError
from augment.llm.fake import FakeLLM
from augment.prompts import (
    ChainOfThought,
    FewShot,
    JSONParser,
    NumberParser,
    PromptTemplate,
    SelfConsistency,
    YesNoParser,
)

Q = PromptTemplate("Q: {question}")


def test_zero_shot_cot_two_calls_rationale_and_answer_separate():
    llm = FakeLLM(["He has 3 and buys 4 more, 3 + 4 = 7.", "7"])
    cot = ChainOfThought(Q, llm, NumberParser(), max_tokens=64)
    r = cot(question="3 apples plus 4?")
    assert r.rationale == "He has 3 and buys 4 more, 3 + 4 = 7." and r.answer == 7 and r.ok
    first, second = llm.calls
    assert first.messages[-1].content == "Q: 3 apples plus 4?\nLet's think step by step."
    assert first.options.max_tokens == 64
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content == r.rationale
    assert "Therefore, the answer (a number) is" in second.messages[2].content
    assert second.options.temperature == 0
    assert "Let's think step by step." in cot.render_text(question="q")


def test_few_shot_cot_single_call_with_rationales():
    shots = [{"question": "2 boxes of 3?", "rationale": "2 * 3 = 6.", "answer": 6}]
    fs = FewShot(Q, shots, k=1, output="{rationale} The answer is {answer}.")
    llm = FakeLLM(["4 * 5 = 20. The answer is 20."])
    cot = ChainOfThought(fs, llm, NumberParser(), trigger=None, extract=False)
    r = cot(question="4 boxes of 5?")
    assert r.answer == 20 and len(llm.calls) == 1
    assert llm.calls[0].messages[1].content == "2 * 3 = 6. The answer is 6."


def test_parse_failure_is_returned_not_raised():
    cot = ChainOfThought(Q, FakeLLM(["I am not sure.", "no idea"]), NumberParser())
    r = cot(question="?")
    assert not r.ok and r.answer is None and r.raw == "no idea" and "number" in r.parse.error


def test_extraction_falls_back_to_rationale_conclusion():
    cot = ChainOfThought(Q, FakeLLM(["So the answer is yes.", "hmm"]), YesNoParser())
    assert cot(question="?").answer is True


def test_json_answer_uses_constrained_decoding_option():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm = FakeLLM(["reasoning...", {"n": 5}])
    r = ChainOfThought(Q, llm, JSONParser(schema))(question="?")
    assert r.answer == {"n": 5}
    assert llm.calls[1].options.response_format == schema


def test_self_consistency_majority_share_and_one_batch_call():
    class Spy(FakeLLM):
        batch_sizes: list = []

        def generate_batch(self, conversations, options):
            self.batch_sizes.append((len(conversations), options.temperature, options.seed))
            return super().generate_batch(conversations, options)

    llm = Spy(["ra", "rb", "rc", "rd", "re", "7", "8", "7", "x", "7"])
    sc = SelfConsistency(ChainOfThought(Q, llm, NumberParser()), n=5, temperature=0.8, seed=3)
    r = sc(question="?")
    assert llm.batch_sizes == [(5, 0.8, 3), (5, 0.0, None)]  # 5 paths in one call, then 5 answers in one call
    assert r.answer == 7 and r.vote_share == pytest.approx(3 / 5) and r.votes == {7: 3, 8: 1}
    assert [p.answer for p in r.paths] == [7, 8, 7, None, 7] and r.n == 5


def test_self_consistency_ties_and_all_failures():
    cot = ChainOfThought(Q, FakeLLM(["a", "b", "2", "3"]), NumberParser())
    r = SelfConsistency(cot, n=2)(question="?")
    assert r.answer == 2 and r.vote_share == 0.5  # tie -> first seen
    cot = ChainOfThought(Q, FakeLLM(["a", "b", "?", "?"]), NumberParser())
    r = SelfConsistency(cot, n=2)(question="?")
    assert r.answer is None and r.vote_share == 0.0 and not r.ok and len(r.paths) == 2


def test_bad_arguments():
    cot = ChainOfThought(Q, FakeLLM([]), NumberParser())
    with pytest.raises(ConfigError, match="at least 1"):
        SelfConsistency(cot, n=0)
    with pytest.raises(ConfigError, match="temperature"):
        SelfConsistency(cot, n=3, temperature=0)
    with pytest.raises(ConfigError, match="wraps a ChainOfThought"):
        SelfConsistency(Q, n=3)
    with pytest.raises(ConfigError, match="augment LLM"):
        ChainOfThought(Q, "gpt", NumberParser())
    with pytest.raises(ConfigError, match="instruction"):
        ChainOfThought(Q, FakeLLM([]), answer_prompt="Answer now")


@pytest.mark.real_model
def test_self_consistency_real_model_one_batched_generation(default_llm):
    """n paths of the real model come from ONE generate_batch call (left-padded batch), not n calls."""
    calls = []
    original = default_llm.generate_batch

    def spy(conversations, options):
        calls.append((len(conversations), options.temperature))
        return original(conversations, options)

    default_llm.generate_batch = spy  # instance attribute only, removed below
    try:
        cot = ChainOfThought(Q, default_llm, NumberParser(), max_tokens=16, answer_max_tokens=4)
        r = SelfConsistency(cot, n=4, temperature=0.9, seed=1)(question="Tom has 2 apples and buys 3 more. How many apples?")
    finally:
        del default_llm.generate_batch
    assert calls == [(4, 0.9), (4, 0.0)]
    assert len(r.paths) == 4 and all(p.rationale for p in r.paths)
    assert len({p.rationale for p in r.paths}) > 1  # sampled, not greedy copies
    if r.ok:
        assert r.votes[r.answer if not isinstance(r.answer, float) else int(r.answer)] == max(r.votes.values())
        assert r.vote_share == max(r.votes.values()) / 4
    else:
        assert r.vote_share == 0.0 and all(not p.ok for p in r.paths)


@pytest.mark.real_model
def test_json_answer_step_is_constrained_on_real_model(default_llm):
    schema = {"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}
    cot = ChainOfThought(Q, default_llm, JSONParser(schema), max_tokens=12, answer_max_tokens=12)
    r = cot(question="2 boxes hold 3 eggs each. How many eggs in total?")
    assert r.rationale
    assert r.ok and isinstance(r.answer, dict) and isinstance(r.answer["total"], int)  # valid by construction
    assert r.completions[1].parsed == r.answer
