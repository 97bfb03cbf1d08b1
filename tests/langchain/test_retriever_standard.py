"""AugmentRetriever passes LangChain's standard RetrieversIntegrationTests (hybrid over a real Chroma)."""

from __future__ import annotations

import tempfile

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from augment.errors import ConfigError
from augment.langchain import AugmentRetriever
from augment.retrieval.bm25 import BM25Retriever
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.retriever import DenseRetriever, HybridRetriever, ListRetriever
from augment.retrieval.store import ChromaStore
from augment.types import Document

_RETRIEVER = None


def _hybrid() -> HybridRetriever:
    """One real persistent Chroma collection (fake embedder: the suite checks the adapter, not the model)."""
    global _RETRIEVER
    if _RETRIEVER is None:
        store = ChromaStore("lc-suite", path=tempfile.mkdtemp(prefix="augment-lc-"), embedder=FakeEmbedder(64))
        store.upsert([Document(f"Fact {i}: bees, towers and moons number {i}.", {"source": f"f{i}.txt"})
                      for i in range(8)])
        _RETRIEVER = HybridRetriever([DenseRetriever(store), BM25Retriever(store)])
    return _RETRIEVER


class TestAugmentRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[AugmentRetriever]:
        return AugmentRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": _hybrid(), "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return "what number do the bees have?"


def test_scores_and_metadata_are_kept():
    lc = AugmentRetriever(retriever=ListRetriever([Document("a", {"source": "x.md"}, id="1")]))
    doc = lc.invoke("q")[0]
    assert doc.metadata == {"source": "x.md", "score": 1.0} and doc.id == "1"


def test_bad_retriever_is_refused():
    with pytest.raises((ConfigError, ValueError), match="augment retriever"):
        AugmentRetriever(retriever="not a retriever")
