"""Our Chroma store as a LangChain ``VectorStore``, our embedder as LangChain ``Embeddings``.

>>> from augment.langchain.vectorstore import AugmentVectorStore
>>> from augment.retrieval.embeddings import FakeEmbedder
>>> import tempfile
>>> vs = AugmentVectorStore(embedding=FakeEmbedder(), collection_name="demo", path=tempfile.mkdtemp())
>>> _ = vs.add_texts(["cats purr", "dogs bark"], ids=["c", "d"])
>>> vs.similarity_search("purr", k=1)[0].page_content
'cats purr'
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Sequence

import numpy as np
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from augment.errors import ConfigError
from augment.retrieval.base import Store
from augment.retrieval.store import ChromaStore
from augment.types import Document

__all__ = ["AugmentVectorStore", "AugmentEmbeddings"]


class AugmentEmbeddings(Embeddings):
    """An augment embedder (default: the packaged all-MiniLM-L6-v2) as LangChain ``Embeddings``.

    >>> from augment.retrieval.embeddings import FakeEmbedder
    >>> len(AugmentEmbeddings(FakeEmbedder(dimension=8)).embed_query("hi"))
    8
    """

    def __init__(self, embedder: Any = None):
        if embedder is None:
            from augment.retrieval.embeddings import Embedder

            embedder = Embedder()
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return np.asarray(self.embedder.embed_documents(list(texts)), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        return np.asarray(self.embedder.embed_query(text), dtype=np.float32).tolist()


def _to_lc(doc: Document) -> LCDocument:
    return LCDocument(page_content=doc.text, metadata=dict(doc.metadata), id=doc.id)


class AugmentVectorStore(VectorStore):
    """A LangChain ``VectorStore`` over an augment :class:`~augment.retrieval.base.Store` (a ChromaStore by default).

    Give an existing ``store`` (any Store), or ``embedding`` (LangChain ``Embeddings`` or an
    augment embedder; default all-MiniLM-L6-v2) with ``collection_name`` and
    ``path`` (embedded) or ``url`` (a ``chroma run`` server). Scores are cosine
    similarities (higher is better).

    >>> vs = AugmentVectorStore.from_texts(["a b", "c d"], embedding=None, path="/tmp/x")  # doctest: +SKIP
    """

    def __init__(self, store: Store | None = None, *, embedding: Any = None, collection_name: str = "langchain",
                 path: str | None = None, url: str | None = None):
        if store is None:
            if isinstance(embedding, AugmentEmbeddings):
                embedding = embedding.embedder
            store = ChromaStore(collection_name, path=path, url=url, embedder=embedding)
        elif not isinstance(store, Store):
            raise ConfigError(f"store must be an augment Store (e.g. a ChromaStore), got {type(store).__name__}")
        self.store = store

    @property
    def embeddings(self) -> Embeddings | None:
        emb = self.store.embedder
        inner = getattr(emb, "inner", None)  # a wrapped LangChain Embeddings
        return inner if isinstance(inner, Embeddings) else AugmentEmbeddings(emb)

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str | None] | None = None, **kwargs: Any) -> list[str]:
        texts = list(texts)
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        ids = list(ids) if ids is not None else [None] * len(texts)
        ids = [str(i) if i else str(uuid.uuid4()) for i in ids]
        docs = [Document(t, dict(m or {}), i) for t, m, i in zip(texts, metadatas, ids)]
        return self.store.upsert(docs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        where = kwargs.get("where") or kwargs.get("filter")
        if ids is None and not where:
            return None
        self.store.delete(ids=ids, where=where)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        return [_to_lc(d) for d in self.store.get(list(ids))]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[LCDocument, float]]:
        return [(_to_lc(s.document), s.score) for s in self.store.query(query, k=k, where=filter)]

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None, **kwargs: Any) -> list[LCDocument]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                    **kwargs: Any) -> list[LCDocument]:
        return [_to_lc(s.document) for s in self.store.query(np.asarray(embedding, np.float32), k=k, where=filter)]

    def _select_relevance_score_fn(self) -> Any:
        return lambda score: max(0.0, min(1.0, score))  # already a cosine similarity

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict | None = None, **kwargs: Any) -> list[LCDocument]:
        qvec = np.asarray(self.store.embedder.embed_query(query), dtype=np.float32)
        hits = self.store.query(qvec, k=fetch_k, where=filter)
        if not hits:
            return []
        vecs = self.store.get_embeddings([h.id for h in hits])
        picked = maximal_marginal_relevance(qvec, list(vecs), lambda_mult=lambda_mult, k=k)
        return [_to_lc(hits[i].document) for i in picked]

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Any, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, collection_name: str = "langchain", path: str | None = None,
                   url: str | None = None, **kwargs: Any) -> "AugmentVectorStore":
        vs = cls(embedding=embedding, collection_name=collection_name, path=path, url=url)
        vs.add_texts(texts, metadatas, ids=ids)
        return vs
