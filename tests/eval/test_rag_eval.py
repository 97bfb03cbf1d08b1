"""The RAG runner: metrics on hand-checked cases (FakeLLM + FakeEmbedder, real Chroma), bad input, one real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment.errors import ConfigError, DataError
from augment.eval.rag_eval import evaluate_rag, load_qa, ndcg_at_k, normalize_span, span_in_text
from augment.llm.fake import FakeLLM
from augment.retrieval.embeddings import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "rag_eval"

DOCS = {
    "kettle.md": "# Kettle\nThe Zephyr kettle boils 1.7 litres of water in 3 minutes.\n",
    "toaster.md": "# Toaster\nThe Zephyr toaster has 6 browning levels and a defrost button.\n",
    "fridge.md": "# Fridge\nThe Zephyr fridge keeps food at 4 °C and uses 120 kWh of power per year.\n",
}
QA = [
    {"id": "q1", "question": "How many browning levels does the Zephyr toaster have?", "answer": "6 browning levels",
     "source": "toaster.md"},
    {"id": "q2", "question": "How much water does the Zephyr kettle boil?", "answer": ["1.7 litres", "1.7 l"],
     "source": "kettle.md"},
    {"id": "q3", "question": "What colour is the Zephyr fridge?", "answerable": False},
    # the (deliberately odd) source is retrieved second: nDCG 1/log2(3), reciprocal rank 1/2
    {"id": "q4", "question": "How much water does the Zephyr kettle boil in 3 minutes?", "answer": "defrost button",
     "source": "toaster.md"},
    # the source is not retrieved at all with k=2
    {"id": "q5", "question": "Who makes the Zephyr?", "answer": "120 kWh", "source": "fridge.md"},
]
REPLIES = ["The toaster has six browning levels [1].", "It boils 2 litres [2].", "I don't know.", "I don't know.",
           "Zephyr makes it [1]."]


def _write(tmp_path: Path, qa=QA, docs=DOCS) -> tuple[Path, Path]:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    qa_path = tmp_path / "qa.jsonl"
    qa_path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in qa), encoding="utf-8")
    return folder, qa_path


def test_normalisation_and_span_matching():
    assert normalize_span("The tank holds 1,200 mL; set it to FIVE (2.50 V).") == "the tank holds 1200 ml set it to 5 2.5 v"
    assert span_in_text("Firmware 3.2 is current.", "3.2") and not span_in_text("Firmware 3.25", "3.2")
    assert span_in_text("It takes forty minutes", "40 minutes") and not span_in_text("It takes 40 s.", "4 s")
    assert span_in_text("Use the HX20FW.BIN file", "hx20fw.bin") and span_in_text("±0.5°C", "0.5 °C")
    assert not span_in_text("anything", "") and not span_in_text(None, "x")
    assert ndcg_at_k(["a", "b"], {"a"}, 2) == 1.0 and round(ndcg_at_k(["x", "a"], {"a"}, 2), 4) == 0.6309
    assert ndcg_at_k(["x", "y", "a"], {"a"}, 2) == 0.0 and ndcg_at_k([], {"a"}, 5) == 0.0


def test_metrics_on_hand_checked_answers(tmp_path):
    docs, qa = _write(tmp_path)
    llm = FakeLLM(REPLIES)
    out = tmp_path / "report.json"
    rep = evaluate_rag(docs, qa, llm, k=2, retriever="bm25", embedder=FakeEmbedder(), store_dir=tmp_path / "db",
                       report=out, progress=False)
    m = rep.metrics
    assert m["hit_at_2"] == 0.75 and m["mrr"] == 0.625
    assert m["ndcg_at_2"] == round((1 + 1 + 0.6309297535714575 + 0) / 4, 4)
    assert m["span_in_answer"] == 0.25  # "six browning levels" counts as "6 browning levels"
    # q1 [1]=toaster holds it; q5 [1] does not; q2's unsupported "2 litres [2]" became "I don't know",
    # which cites nothing
    assert m["citation_precision"] == 0.5
    assert m["answers_with_citation"] == 0.5
    # RAG answers "I don't know" when nothing the model wrote is supported (abstain_unsupported): 2 of 4
    assert m["abstain_unanswerable"] == 1.0 and m["abstain_answerable"] == 0.5
    assert (m["n_answerable"], m["n_unanswerable"]) == (4, 1) and m["s_per_answer"] >= 0
    rows = {r["id"]: r for r in rep.predictions}
    assert rows["q1"]["retrieved"][0] == "toaster.md" and rows["q1"]["citations"] == [
        {"n": 1, "source": "toaster.md", "holds_span": True}]
    assert rows["q4"]["rank"] == 2 and rows["q5"]["rank"] is None and rows["q5"]["hit"] is False
    assert rows["q3"]["abstained"] and "span_in_answer" not in rows["q3"]
    assert "Zephyr toaster has 6 browning levels" in llm.calls[0].messages[-1].content  # the source reached the model
    saved = json.loads(out.read_text())
    assert saved["metrics"] == m and len(saved["predictions"]) == 5 and saved["meta"]["k"] == 2
    # the collection persists in store_dir: a second run embeds nothing again
    again = evaluate_rag(docs, qa, FakeLLM(REPLIES), k=2, retriever="bm25", embedder=FakeEmbedder(),
                         store_dir=tmp_path / "db", progress=False)
    assert again.meta["ingest"]["unchanged"] == 3 and again.metrics == {**m, "s_per_answer": again.metrics["s_per_answer"]}


def test_limit_keeps_unanswerable_questions(tmp_path):
    docs, qa = _write(tmp_path)
    rep = evaluate_rag(docs, qa, FakeLLM(["I don't know."], cycle=True), k=1, retriever="bm25",
                       embedder=FakeEmbedder(), limit=3, progress=False)
    assert [r["id"] for r in rep.predictions] == ["q1", "q2", "q3"]


def test_time_budget_stops_asking(tmp_path):
    docs, qa = _write(tmp_path)
    rep = evaluate_rag(docs, qa, FakeLLM(REPLIES), k=2, retriever="bm25", embedder=FakeEmbedder(), max_seconds=0.0,
                       progress=False)
    assert rep.n == 0 and rep.meta["skipped"] == 5 and rep.metrics["span_in_answer"] is None


def test_the_project_set_is_consistent():
    items = load_qa(DATA / "qa.jsonl", DATA / "docs")  # every span is in its source file
    answerable = [i for i in items if i["answerable"]]
    assert len(items) >= 40 and len(answerable) >= 30 and len(items) - len(answerable) >= 10
    assert not {p.name for p in (DATA / "docs").iterdir()} & {p.name for p in (ROOT / "examples" / "docs").iterdir()}


@pytest.mark.parametrize("line, message", [
    ('{"question": "q", "answer": "x", "source": "kettle.md"', "line 2: not valid JSON"),
    ('["a list"]', "line 2: a JSON list"),
    ('{"answer": "1.7 litres", "source": "kettle.md"}', "line 2: needs a non-empty \"question\""),
    ('{"question": "How much water?"}', "line 2: give the answer span(s)"),
    ('{"question": "How much water?", "answer": "1.7 litres"}', "line 2: give the \"source\""),
    ('{"question": "How much?", "answer": "9 litres", "source": "kettle.md"}', "line 2: none of the answer spans"),
    ('{"question": "How much?", "answer": "1.7 litres", "source": "oven.md"}', "line 2: source 'oven.md' is not a file"),
    ('{"question": "How much?", "answerable": "no"}', "line 2: \"answerable\" must be true or false"),
    ('{"id": "q1", "question": "Again?", "answerable": false}', "line 2: the id 'q1' is used twice"),
])
def test_bad_qa_lines_name_the_file_and_line(tmp_path, line, message):
    docs, qa = _write(tmp_path, qa=QA[:1])
    qa.write_text(qa.read_text() + line + "\n")
    with pytest.raises(DataError) as e:
        evaluate_rag(docs, qa, FakeLLM(["x"]), embedder=FakeEmbedder(), progress=False)
    assert message in str(e.value) and str(qa) in str(e.value)


def test_missing_files_and_bad_options(tmp_path):
    docs, qa = _write(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        evaluate_rag(docs, tmp_path / "nope.jsonl", FakeLLM(["x"]), embedder=FakeEmbedder(), progress=False)
    with pytest.raises(DataError, match="documents folder .* does not exist"):
        evaluate_rag(tmp_path / "nodocs", qa, FakeLLM(["x"]), embedder=FakeEmbedder(), progress=False)
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="is empty"):
        evaluate_rag(docs, tmp_path / "empty.jsonl", FakeLLM(["x"]), embedder=FakeEmbedder(), progress=False)
    with pytest.raises(ConfigError, match="unknown retriever"):
        evaluate_rag(docs, qa, FakeLLM(["x"]), retriever="magic", progress=False)
    with pytest.raises(ConfigError, match="needs an augment LLM"):
        evaluate_rag(docs, qa, "gpt", progress=False)


@pytest.mark.real_model
def test_real_default_model_on_the_project_set(default_llm, default_embedder):
    rep = evaluate_rag(DATA / "docs", DATA / "qa.jsonl", default_llm, k=5, embedder=default_embedder, limit=2,
                       max_tokens=32, progress=False)
    assert rep.n == 2 and rep.errors == 0
    assert (rep.metrics["n_answerable"], rep.metrics["n_unanswerable"]) == (1, 1)
    # the real embedder + BM25 find the source of the first question among 5 sources
    assert rep.metrics["hit_at_5"] == 1.0
    for row in rep.predictions:
        assert isinstance(row["answer"], str) and row["answer"] and row["seconds"] > 0
    assert rep.meta["chunks"] >= 21 and rep.meta["ingest"]["failed"] == []
