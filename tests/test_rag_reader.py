"""The extractive reader (augment.rag_reader) and RAG(reader=...).

Logic tests use a deterministic bag-of-words embedder and FakeLLM; one test runs the real default
model, the real embedder and a real Chroma collection over examples/docs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augment.errors import ConfigError
from augment.llm.defaults import DEFAULT_MODEL_NAME
from augment.llm.fake import FakeLLM
from augment.rag import EXTRACT_ANSWER, NO_ANSWER, RAG, RAGAnswer
from augment.rag_reader import ExtractiveReader, candidate_sentences
from augment.retrieval.retriever import ListRetriever
from augment.types import Document

ROOT = Path(__file__).resolve().parents[1]

MANUAL = [
    Document("# Lights\nThe front light gives 60 lux and sits under the handlebar.\n"
             "The rear light is built into the rack and glows brighter when you brake.", {"source": "lights.md"}),
    Document("# Charging\nUse only the KC-42 charger. A full charge takes 4.5 hours.\n"
             "The charger light shows:\n- red: charging\n- green: full", {"source": "charging.md"}),
    Document("The bike weighs 17.8 kg with the battery. The spare battery weighs 2.1 kg.", {"source": "specs.md"}),
]


class WordEmbedder:
    """Bag-of-words vectors over a fixed vocabulary: similarity is word overlap, deterministic."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(256, dtype=np.float32)
        for w in text.lower().replace("?", " ").replace(".", " ").replace(",", " ").split():
            v[self.vocab.setdefault(w, len(self.vocab) % 256)] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts):
        self.calls += 1
        return np.stack([self._vec(t) for t in texts])

    def embed_query(self, text):
        return self._vec(text)


class DefaultNamedLLM(FakeLLM):
    """A FakeLLM that calls itself the embedded default model (what reader='auto' looks at)."""

    model_name = DEFAULT_MODEL_NAME


def texts(docs=MANUAL):
    return [d.text for d in docs]


def test_candidates_skip_headings_and_join_a_list_to_its_lead_in():
    got = candidate_sentences(MANUAL[1].text)
    assert got == ["Use only the KC-42 charger.", "A full charge takes 4.5 hours.",
                   "The charger light shows: red: charging; green: full"]
    assert candidate_sentences("# Title only\n\nToo short.\nA list with no items:") == []


@pytest.mark.parametrize("embedder", [None, WordEmbedder()], ids=["word-overlap", "embedder"])
def test_reads_the_sentence_that_answers_and_cites_its_source(embedder):
    reader = ExtractiveReader(embedder=embedder)
    found = reader.read("How much does the spare battery weigh?", texts())
    assert found.answer == "The spare battery weighs 2.1 kg [3]."
    assert found.candidate.n == 3 and not found.abstained
    assert found.ranked[0].score >= found.ranked[-1].score
    light = reader.read("What does the charger light show?", texts())
    assert light.answer == "The charger light shows: red: charging; green: full [2]."


def test_the_kind_of_fact_asked_for_must_be_in_the_sentence():
    reader = ExtractiveReader(embedder=WordEmbedder())
    found = reader.read("What does the spare battery cost?", texts())
    assert found.abstained and found.answer == "I don't know."
    assert found.reason.startswith("none of the 3 best sentences") and "gives no price" in found.reason
    # the check can be turned off: then the best sentence is the answer
    loose = ExtractiveReader(embedder=WordEmbedder(), check_answer_type=False)
    assert "battery" in loose.read("What does the spare battery cost?", texts()).answer


def test_a_sentence_about_the_other_side_of_a_contrast_does_not_answer():
    reader = ExtractiveReader(embedder=WordEmbedder())
    found = reader.read("How many lux does the rear light give?", texts())
    assert found.abstained and "is about the front, not the rear" in found.reason
    assert reader.read("How many lux does the front light give?", texts()).answer.startswith(
        "The front light gives 60 lux")


def test_depth_bounds_how_far_down_the_ranking_the_answer_may_be():
    question = "How long does charging with the KC-42 charger take?"  # ranks "Use only the KC-42 charger." first
    assert ExtractiveReader(depth=3).read(question, texts()).answer == "A full charge takes 4.5 hours [2]."
    shallow = ExtractiveReader(depth=1).read(question, texts())
    assert shallow.abstained and shallow.reason == \
        "the best sentence of the sources does not answer it (the 1st gives no duration)"
    with pytest.raises(ConfigError, match="depth"):
        ExtractiveReader(depth=0)


def test_sentence_vectors_are_cached():
    emb = WordEmbedder()
    reader = ExtractiveReader(embedder=emb)
    reader.read("How heavy is the bike?", texts())
    reader.read("What is the weight of the bike?", texts())
    assert emb.calls == 1  # the second question re-used every sentence's vector


def test_rag_extract_does_not_call_the_model_and_goes_through_the_checks():
    llm = FakeLLM([])  # any call would fail: it has no reply
    rag = RAG(llm, ListRetriever(MANUAL), k=3, reader="extract")
    answer = rag.ask("How much does the spare battery weigh?")
    assert not llm.calls and answer.reader == "extract" and rag.reads == "extract"
    n = next(i for i, s in enumerate(answer.sources, 1) if s.metadata["source"] == "specs.md")
    assert answer.answer == f"The spare battery weighs 2.1 kg [{n}]."
    assert answer.citations == {n: answer.sources[n - 1]} and not answer.unsupported and not answer.abstained
    assert answer.extract.candidate.text == "The spare battery weighs 2.1 kg."
    assert "Question: How much does the spare battery weigh?" in answer.prompt  # what the model would have read
    assert answer.completion is None


def test_rag_extract_abstains_with_the_reason_and_keeps_the_sources():
    rag = RAG(FakeLLM([]), ListRetriever(MANUAL), k=3, reader="extract")
    answer = rag.ask("What are the opening hours of the service desk?")
    assert answer.abstained and not answer.citations and len(answer.sources) == 3
    assert answer.answer == EXTRACT_ANSWER.format(reason=answer.extract.reason)
    assert "gives no time of day" in answer.answer
    # nothing retrieved: the usual no-answer, before any reading
    empty = RAG(FakeLLM([]), ListRetriever([]), reader="extract").ask("Anything?")
    assert empty.answer == NO_ANSWER and empty.abstained


def test_rag_extract_streams_the_answer_then_the_checked_answer():
    rag = RAG(FakeLLM([]), ListRetriever(MANUAL), k=3, reader="extract")
    items = list(rag.stream("How much does the bike weigh?"))
    assert len(items) == 2 and isinstance(items[1], RAGAnswer)
    assert items[0] == items[1].answer and "17.8 kg" in items[0]


def test_reader_auto_extracts_only_with_the_embedded_default_model():
    assert RAG(FakeLLM(["x"]), ListRetriever(MANUAL)).reads == "model"
    assert RAG(DefaultNamedLLM(["x"]), ListRetriever(MANUAL)).reads == "extract"
    # a model fine-tuned by the user (its own adapter) writes its answers
    assert RAG(DefaultNamedLLM(["x"]), ListRetriever(MANUAL), adapter="mine").reads == "model"
    assert RAG(DefaultNamedLLM(["It weighs 17.8 kg [1]."]), ListRetriever(MANUAL), reader="model").reads == "model"
    with pytest.raises(ConfigError, match="reader='quote'.*'auto', 'model', 'extract'"):
        RAG(FakeLLM(["x"]), ListRetriever(MANUAL), reader="quote")


@pytest.mark.real_model
def test_real_default_model_answers_by_extraction(default_llm, default_embedder, tmp_path):
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.retriever import hybrid_retriever
    from augment.retrieval.store import ChromaStore

    store = ChromaStore("samples", path=tmp_path / "db", embedder=default_embedder)
    ingest([ROOT / "examples" / "docs"], store, glob="*.md", ignore=("README.md",), progress=False)
    rag = RAG(default_llm, hybrid_retriever(store, k=3), k=3)
    assert rag.reads == "extract"
    answer = rag.ask("How tall is the Eiffel Tower?")
    assert "330" in answer.answer and answer.citations and not answer.unsupported, answer.answer
    [(n, src)] = answer.citations.items()
    assert "eiffel_tower.md" in src.metadata["source"] and answer.extract.candidate.text.rstrip(".") in \
        " ".join(src.text.split())
    model = RAG(default_llm, hybrid_retriever(store, k=3), k=3, reader="model", max_tokens=40)
    assert model.reads == "model" and model.ask("How tall is the Eiffel Tower?").completion is not None
