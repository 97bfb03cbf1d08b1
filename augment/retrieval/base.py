"""The two interfaces of retrieval: :class:`Retriever` (one method) and :class:`Store`.

Retrievers (dense, BM25, hybrid, MMR, rerank), ingestion and the LangChain
adapter use a store only through :class:`Store`; :class:`~augment.retrieval.store.ChromaStore`
implements it. This module imports nothing heavy and no other retrieval module,
so ``retriever.py``, ``bm25.py`` and ``rerank.py`` all build on it without
importing each other.

>>> from augment.types import Document, ScoredDocument
>>> class Keyword(Retriever):
...     def __init__(self, docs): self.docs = docs
...     def retrieve(self, query, k=4):
...         return [ScoredDocument(d, 1.0) for d in self.docs if query.lower() in d.text.lower()][:k]
>>> Keyword([Document("Bees make honey."), Document("The Moon")])("honey")[0].text
'Bees make honey.'
"""

from __future__ import annotations

import abc
import asyncio
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from augment.errors import ConfigError
from augment.tracing import traced_retrieve
from augment.types import Document, ScoredDocument

__all__ = ["Retriever", "Store", "check_k", "check_query", "doc_key"]


def check_k(k: Any) -> int:
    """``k`` when it is a positive integer, else a :class:`ConfigError`."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer (the number of documents to return), got {k!r}")
    return k


def check_query(query: Any) -> str:
    """``query`` when it is a non-empty string, else a :class:`ConfigError`."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"the query must be a non-empty string, got {query!r}")
    return query


def doc_key(doc: Document | ScoredDocument) -> str:
    """Identity of a document for fusion: its id, or its text when it has none."""
    d = doc.document if isinstance(doc, ScoredDocument) else doc
    return d.id if d.id is not None else "text:" + d.text


class Retriever:
    """Base class of every retriever: implement ``retrieve(query, k=4) -> list[ScoredDocument]``.

    ``retriever(query)`` delegates to :meth:`retrieve`; :meth:`batch`,
    :meth:`aretrieve` and :meth:`abatch` come for free.

    Example::

        class Keyword(Retriever):
            def __init__(self, docs): self.docs = docs
            def retrieve(self, query, k=4):
                hits = [d for d in self.docs if query.lower() in d.text.lower()]
                return [ScoredDocument(d, 1.0) for d in hits[:k]]
    """

    #: the embedder behind this retriever when there is one (used by RAG's support check)
    embedder: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:  # every retrieve() is one OpenTelemetry retrieval span
        super().__init_subclass__(**kwargs)
        if "retrieve" in cls.__dict__ and not getattr(cls.__dict__["retrieve"], "__augment_traced__", False):
            cls.retrieve = traced_retrieve(cls.__dict__["retrieve"])  # type: ignore[method-assign]

    def retrieve(self, query: str, k: int = 4) -> list[ScoredDocument]:
        raise NotImplementedError(f"{type(self).__name__} must implement retrieve(query, k)")

    def __call__(self, query: str, k: int = 4) -> list[ScoredDocument]:
        return self.retrieve(query, k)

    def batch(self, queries: Sequence[str], k: int = 4) -> list[list[ScoredDocument]]:
        """Retrieve for several queries (a loop unless a subclass does better)."""
        return [self.retrieve(q, k) for q in queries]

    async def aretrieve(self, query: str, k: int = 4) -> list[ScoredDocument]:
        """Async :meth:`retrieve` (runs in a worker thread)."""
        return await asyncio.to_thread(self.retrieve, query, k)

    async def abatch(self, queries: Sequence[str], k: int = 4) -> list[list[ScoredDocument]]:
        """Async :meth:`batch`."""
        return await asyncio.to_thread(self.batch, list(queries), k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Store(abc.ABC):
    """A collection of documents with their embeddings: what retrievers, ingestion and LangChain need.

    Implement the abstract methods (see :class:`~augment.retrieval.store.ChromaStore`).
    ``name`` names the collection; ``location`` says where it lives (a folder or a
    URL); ``path`` is the local folder, or None for a remote store (BM25 then keeps
    its index in the cache). ``records(kind)`` / ``put_records`` / ``delete_records``
    keep small per-key bookkeeping beside the documents (ingestion stores one
    record per file there), and must survive a restart like the documents do.
    """

    name: str
    path: Path | None = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else self.name

    @property
    @abc.abstractmethod
    def embedder(self) -> Any:
        """The embedder (``embed_documents``, ``embed_query``, ``model_id``, ``dimension``)."""

    # -- writing
    @abc.abstractmethod
    def upsert(self, documents: Sequence[Document | str], embeddings: Any = None,
               ids: Sequence[str] | None = None) -> list[str]:
        """Insert or replace documents (embedding them unless ``embeddings`` is given); return their ids."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> int:
        """Delete by ids and/or metadata filter; return how many were deleted."""

    # -- reading
    @abc.abstractmethod
    def get(self, ids: Sequence[str] | str) -> list[Document]:
        """Documents with these ids, in order; unknown ids are skipped."""

    @abc.abstractmethod
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored."""

    @abc.abstractmethod
    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """Ids of all documents (matching ``where``)."""

    @abc.abstractmethod
    def get_embeddings(self, ids: Sequence[str]) -> Any:
        """Stored vectors for ``ids``, in order (an array of shape ``(len(ids), dimension)``)."""

    @abc.abstractmethod
    def query(self, query: Any, k: int = 4, where: dict[str, Any] | None = None) -> list[ScoredDocument]:
        """Top-``k`` documents for a text or a vector, best first (higher score is better)."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many documents the collection holds."""

    @abc.abstractmethod
    def iter_documents(self, batch_size: int = 1000, where: dict[str, Any] | None = None) -> Iterator[Document]:
        """Every document (e.g. to build a BM25 index)."""

    # -- bookkeeping beside the documents
    @abc.abstractmethod
    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """``{key: record}`` of the records of ``kind``."""

    @abc.abstractmethod
    def put_records(self, kind: str, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Insert or replace records of ``kind`` (flat dicts of str/int/float/bool)."""

    @abc.abstractmethod
    def delete_records(self, kind: str, keys: Sequence[str]) -> None:
        """Delete records of ``kind``; unknown keys are ignored."""
