"""evaluate(): every kind of program, the JSON report, the progress bar, bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from augment.errors import ConfigError, DataError
from augment.eval import EvalReport, evaluate, load_dataset
from augment.llm.fake import FakeLLM
from augment.prompts import ChainOfThought, FewShot, NumberParser, PromptTemplate, SelfConsistency

DATA = [{"input": "2+2?", "output": "4"}, {"input": "3+3?", "output": "6"}, {"input": "1+1?", "output": "2"}]


def test_llm_program_writes_report(tmp_path, capsys):
    out = tmp_path / "reports" / "r.json"
    rep = evaluate(FakeLLM(["4", "7", " 2 "]), DATA, ["accuracy", "exact_match"], out)
    assert isinstance(rep, EvalReport)
    assert rep.metrics == {"accuracy": pytest.approx(2 / 3), "exact_match": pytest.approx(2 / 3)}
    saved = json.loads(out.read_text())
    assert saved["n"] == 3 and saved["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert [p["prediction"] for p in saved["predictions"]] == ["4", "7", "2"]
    assert [p["reference"] for p in saved["predictions"]] == ["4", "6", "2"]
    assert "evaluate" in capsys.readouterr().err  # the tqdm progress bar


def test_jsonl_file_prompt_with_labels_and_f1(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"text": "loved it", "label": "positive"}, {"text": "hated it", "label": "negative"},
            {"text": "fine", "label": "positive"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    llm = FakeLLM(["Positive!", "It is negative.", "negative"])
    prompt = FewShot(PromptTemplate("Review: {text}\nSentiment:"), rows[:1], k=1, output="{label}")
    rep = evaluate(prompt, path, ["accuracy", "f1"], llm=llm, labels=["positive", "negative"], progress=False)
    assert [p["prediction"] for p in rep.predictions] == ["positive", "negative", "negative"]
    assert rep.predictions[0]["raw"] == "Positive!"
    assert rep.metrics["accuracy"] == pytest.approx(2 / 3)
    # positive: P=1 R=1/2 F=2/3 ; negative: P=1/2 R=1 F=2/3
    assert rep.metrics["f1_macro"] == pytest.approx(2 / 3)
    assert llm.calls[0].messages[-1].content == "Review: loved it\nSentiment:"


def test_chain_of_thought_and_self_consistency_programs():
    data = [{"question": "2+2?", "answer": 4}, {"question": "3+3?", "answer": 6}]
    cot = ChainOfThought(PromptTemplate("Q: {question}"), FakeLLM(["2+2=4", "4", "3+3=5", "5"]), NumberParser())
    rep = evaluate(cot, data, ["accuracy"], progress=False)
    assert rep.metrics["accuracy"] == 0.5 and rep.predictions[0]["rationale"] == "2+2=4"
    sc = SelfConsistency(ChainOfThought(PromptTemplate("Q: {question}"), FakeLLM(["a", "b", "4", "4", "c", "d", "6", "1"]),
                                        NumberParser()), n=2)
    rep = evaluate(sc, data, "accuracy", progress=False)
    assert rep.metrics["accuracy"] == 1.0 and rep.predictions[0]["vote_share"] == 1.0


def test_rag_agent_and_callable_programs():
    @dataclass
    class Answer:
        answer: str

    class Rag:
        def ask(self, question):
            return Answer("Paris" if "France" in question else "unknown")

    class Agent:
        def run(self, task):
            return type("R", (), {"output": "the Paris"})()

    data = [{"question": "Capital of France?", "answer": "Paris"}, {"question": "Capital of Peru?", "answer": "Lima"}]
    assert evaluate(Rag(), data, ["exact_match"], progress=False).metrics["exact_match"] == 0.5
    assert evaluate(Agent(), data, ["token_f1"], progress=False).metrics["token_f1"] == 0.5
    assert evaluate(lambda q: "Lima", data, ["accuracy"], input_key="question", progress=False).metrics["accuracy"] == 0.5
    assert evaluate(lambda item: item["answer"], data, ["accuracy"], progress=False).metrics["accuracy"] == 1.0


def test_errors_on_one_item_are_recorded_not_fatal():
    rep = evaluate(FakeLLM(["4"]), DATA, ["accuracy"], progress=False)  # script runs out after item 0
    assert rep.errors == 2 and "ScriptExhaustedError" in rep.predictions[1]["error"]
    assert rep.metrics["accuracy"] == pytest.approx(1 / 3)


def test_bad_input(tmp_path):
    with pytest.raises(DataError, match="empty"):
        evaluate(FakeLLM(["x"]), [], ["accuracy"])
    with pytest.raises(DataError, match="does not exist"):
        evaluate(FakeLLM(["x"]), tmp_path / "nope.jsonl", ["accuracy"])
    with pytest.raises(DataError, match="target column"):
        evaluate(FakeLLM(["x"]), [{"input": "q"}], ["accuracy"])
    with pytest.raises(DataError, match="no target 'output'"):
        evaluate(FakeLLM(["x", "y"]), [{"input": "q", "output": "a"}, {"input": "q"}], ["accuracy"])
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate(FakeLLM(["x"]), DATA, ["bleu"], progress=False)
    with pytest.raises(ConfigError, match="needs a model"):
        evaluate(PromptTemplate("{input}"), DATA, ["accuracy"])
    with pytest.raises(DataError, match=r"needs \['question'\]"):
        evaluate(PromptTemplate("{question}"), DATA, ["accuracy"], llm=FakeLLM(["a"] * 3), progress=False)
    with pytest.raises(ConfigError, match="cannot evaluate"):
        evaluate(42, DATA, ["accuracy"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": 1}\nnot json\n')
    with pytest.raises(DataError, match="not valid JSON"):
        load_dataset(bad)


@pytest.mark.real_model
def test_real_model_program_and_perplexity_report(default_llm, tmp_path):
    data = [{"input": "What is the capital of France? One word.", "output": "Paris"}]
    rep = evaluate(default_llm, data, ["token_f1", "perplexity"], tmp_path / "r.json", max_tokens=4, progress=False)
    assert isinstance(rep.predictions[0]["prediction"], str) and rep.predictions[0]["prediction"]
    assert 0.0 <= rep.metrics["token_f1"] <= 1.0 and rep.metrics["perplexity"] > 1.0
    assert json.loads((tmp_path / "r.json").read_text())["metrics"] == rep.metrics


def test_instruction_and_input_columns_joined_like_finetuning_data():
    llm = FakeLLM(["BONJOUR"])
    evaluate(llm, [{"instruction": "Translate to French, in capitals.", "input": "hello", "output": "BONJOUR"}],
             ["exact_match"], progress=False)
    assert llm.calls[0].messages[0].content == "Translate to French, in capitals.\n\nhello"
