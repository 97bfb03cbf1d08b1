"""AugmentVectorStore passes LangChain's standard VectorStore suite, on a real persistent Chroma."""

from __future__ import annotations

import uuid

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from augment.langchain.vectorstore import AugmentEmbeddings, AugmentVectorStore
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.store import ChromaStore


class TestAugmentVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path):  # type: ignore[override]
        """An empty store per test (the suite's own 6-d fake embeddings), dropped afterwards."""
        store = AugmentVectorStore(embedding=self.get_embeddings(), collection_name=f"lc-{uuid.uuid4().hex[:8]}",
                                   path=str(tmp_path / "chroma"))
        try:
            yield store
        finally:
            store.store.delete_collection()


def test_from_texts_mmr_and_scores(tmp_path):
    vs = AugmentVectorStore.from_texts(
        ["red apples", "red apples and pears", "blue sky at night"], embedding=FakeEmbedder(dimension=32),
        metadatas=[{"k": 1}, {"k": 2}, {"k": 3}], ids=["a", "b", "c"], collection_name="mmr", path=str(tmp_path))
    (doc, score), *_ = vs.similarity_search_with_score("red apples", k=3)
    assert doc.id == "a" and score == pytest.approx(1.0, abs=1e-5)
    assert [d.id for d in vs.similarity_search("red apples", k=3, filter={"k": 3})] == ["c"]
    picked = vs.max_marginal_relevance_search("red apples", k=2, fetch_k=3, lambda_mult=0.1)
    assert picked[0].id == "a" and picked[1].id == "c"  # diversity beats the near-duplicate "b"
    rel = vs.similarity_search_with_relevance_scores("red apples", k=1)
    assert rel[0][1] == pytest.approx(1.0, abs=1e-5)
    assert isinstance(vs.embeddings, AugmentEmbeddings)


def test_wraps_existing_store_and_refuses_other_model(tmp_path):
    ChromaStore("shared", path=tmp_path, embedder=FakeEmbedder(dimension=16)).upsert(["x y z"])
    vs = AugmentVectorStore(ChromaStore("shared", path=tmp_path, embedder=FakeEmbedder(dimension=16)))
    assert vs.similarity_search("x", k=1)[0].page_content == "x y z"
    from augment.errors import EmbeddingMismatchError

    with pytest.raises(EmbeddingMismatchError, match="new collection name"):
        AugmentVectorStore(embedding=FakeEmbedder(dimension=8), collection_name="shared", path=str(tmp_path))


async def test_async_search(tmp_path):
    vs = AugmentVectorStore(embedding=FakeEmbedder(), collection_name="async", path=str(tmp_path))
    await vs.aadd_texts(["one fish", "two fish"], ids=["1", "2"])
    docs = await vs.asimilarity_search("two", k=1)
    assert docs[0].id == "2"
