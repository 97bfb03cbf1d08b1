"""Retrievers: one base class, one method (``retrieve(query, k)``).

- :class:`DenseRetriever`: top-k by embedding similarity from a store, with a score threshold and a metadata filter
- :class:`BM25Retriever` (in :mod:`augment.retrieval.bm25`): lexical BM25 (bm25s), persisted next to the collection
- :class:`HybridRetriever`: reciprocal rank fusion of several retrievers (dense + BM25)
- :class:`MMRRetriever`: maximal marginal relevance over the dense candidates, for diversity
- :class:`RerankRetriever` (in :mod:`augment.retrieval.rerank`): cross-encoder rerank from a local model path

Scores are "higher is better". A retriever wraps others instead of growing flags.

>>> from augment.retrieval.retriever import HybridRetriever, ListRetriever
>>> from augment.types import Document
>>> a = ListRetriever([Document("apples", id="a"), Document("pears", id="p")])
>>> b = ListRetriever([Document("pears", id="p"), Document("plums", id="u")])
>>> [d.id for d in HybridRetriever([a, b]).retrieve("fruit", k=3)]
['p', 'a', 'u']
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Sequence

import numpy as np

from augment._lazy import lazy_attributes
from augment.errors import ConfigError
from augment.retrieval.base import Retriever, Store, check_k, check_query, doc_key
from augment.types import Document, ScoredDocument

__all__ = [
    "Retriever",
    "ListRetriever",
    "DenseRetriever",
    "HybridRetriever",
    "MMRRetriever",
    "BM25Retriever",
    "RerankRetriever",
    "CrossEncoderReranker",
    "reciprocal_rank_fusion",
    "mmr_select",
    "doc_key",
    "hybrid_retriever",
]


class ListRetriever(Retriever):
    """Returns a fixed list of documents in order (scores 1, 1/2, 1/3...). For tests and examples.

    >>> ListRetriever([Document("a")]).retrieve("anything")[0].score
    1.0
    """

    def __init__(self, documents: Iterable[Document | ScoredDocument]):
        self.documents = [d if isinstance(d, ScoredDocument) else ScoredDocument(d, 1.0 / (i + 1))
                          for i, d in enumerate(documents)]

    def retrieve(self, query: str, k: int = 4) -> list[ScoredDocument]:
        check_query(query)
        return list(self.documents[: check_k(k)])


class DenseRetriever(Retriever):
    """Top-k by embedding similarity from a :class:`~augment.retrieval.base.Store` (e.g. a ChromaStore).

    ``score_threshold`` drops documents scoring below it (cosine similarity for
    the default cosine collections); ``where`` is a Chroma metadata filter.

    >>> store = ChromaStore("docs", path=".augment/chroma")   # doctest: +SKIP
    >>> DenseRetriever(store, k=4, score_threshold=0.3)("What is BM25?")   # doctest: +SKIP
    """

    def __init__(self, store: Store, k: int = 4, score_threshold: float | None = None,
                 where: dict[str, Any] | None = None):
        if not isinstance(store, Store):
            raise ConfigError(f"DenseRetriever needs a store (a ChromaStore, or a subclass of "
                              f"augment.retrieval.Store); got {type(store).__name__}")
        self.store, self.k, self.score_threshold, self.where = store, check_k(k), score_threshold, where

    @property
    def embedder(self) -> Any:  # type: ignore[override]
        """The store's embedder (loaded on first use)."""
        return self.store.embedder

    def retrieve(self, query: str, k: int | None = None) -> list[ScoredDocument]:
        k = check_k(self.k if k is None else k)
        hits = self.store.query(check_query(query), k=k, where=self.where)
        if self.score_threshold is not None:
            hits = [h for h in hits if h.score >= self.score_threshold]
        return sorted(hits, key=lambda h: -h.score)[:k]

    def __repr__(self) -> str:
        return f"DenseRetriever(k={self.k}, score_threshold={self.score_threshold}, where={self.where})"


def reciprocal_rank_fusion(rankings: Sequence[Sequence[ScoredDocument]], rrf_k: int = 60,
                           weights: Sequence[float] | None = None) -> list[ScoredDocument]:
    """Fuse ranked lists: ``score(d) = sum_i w_i / (rrf_k + rank_i(d))`` with ranks from 1.

    Ties keep the order of first appearance (the first list wins). Returned
    documents are the first seen copy with the fused score.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ConfigError(f"weights has {len(weights)} values for {len(rankings)} retrievers; give one weight each")
    scores: dict[str, float] = {}
    first: dict[str, ScoredDocument] = {}
    for ranking, w in zip(rankings, weights):
        seen: set[str] = set()
        for rank, hit in enumerate(ranking, start=1):
            key = doc_key(hit)
            if key in seen:
                continue
            seen.add(key)
            first.setdefault(key, hit)
            scores[key] = scores.get(key, 0.0) + w / (rrf_k + rank)
    order = sorted(scores, key=lambda key: -scores[key])  # stable: first appearance breaks ties
    return [replace(first[key], score=scores[key]) for key in order]


class HybridRetriever(Retriever):
    """Reciprocal rank fusion of several retrievers (typically dense + BM25).

    Each retriever returns ``fetch_k`` candidates; the fused score is
    ``sum_i w_i / (rrf_k + rank_i)``. ``gate``: the index of a retriever that
    must return something for the hybrid to return anything (e.g. a dense
    retriever with a ``score_threshold``), so that a RAG over it can abstain.

    >>> hybrid = HybridRetriever([DenseRetriever(store), BM25Retriever(store)])   # doctest: +SKIP
    >>> hybrid("how does reciprocal rank fusion work?", k=5)   # doctest: +SKIP
    """

    def __init__(self, retrievers: Sequence[Retriever], rrf_k: int = 60, weights: Sequence[float] | None = None,
                 fetch_k: int | None = None, k: int = 4, gate: int | None = None):
        retrievers = list(retrievers)
        if not retrievers:
            raise ConfigError("HybridRetriever needs at least one retriever, e.g. [DenseRetriever(store), BM25Retriever(store)]")
        if rrf_k < 0:
            raise ConfigError(f"rrf_k must be >= 0 (60 is the usual value), got {rrf_k}")
        if weights is not None and len(weights) != len(retrievers):
            raise ConfigError(f"weights has {len(weights)} values for {len(retrievers)} retrievers; give one weight each")
        if gate is not None and not 0 <= gate < len(retrievers):
            raise ConfigError(f"gate={gate} is not the index of one of the {len(retrievers)} retrievers")
        self.retrievers, self.rrf_k, self.weights = retrievers, rrf_k, list(weights) if weights else None
        self.fetch_k, self.k, self.gate = fetch_k, check_k(k), gate

    @property
    def embedder(self) -> Any:  # type: ignore[override]
        """The first embedder among the fused retrievers (None for BM25 only)."""
        return next((r.embedder for r in self.retrievers if getattr(r, "embedder", None) is not None), None)

    def retrieve(self, query: str, k: int | None = None) -> list[ScoredDocument]:
        k = check_k(self.k if k is None else k)
        check_query(query)
        fetch = max(self.fetch_k or 0, k * 4, 20)
        rankings = [r.retrieve(query, fetch) for r in self.retrievers]
        if self.gate is not None and not rankings[self.gate]:
            return []
        return reciprocal_rank_fusion(rankings, self.rrf_k, self.weights)[:k]

    def __repr__(self) -> str:
        return f"HybridRetriever({self.retrievers!r}, rrf_k={self.rrf_k}, weights={self.weights})"


def mmr_select(query_vec: np.ndarray, doc_vecs: np.ndarray, k: int, lambda_mult: float = 0.5) -> list[int]:
    """Maximal marginal relevance: pick ``argmax lambda*sim(q,d) - (1-lambda)*max_s sim(d,s)`` k times.

    Vectors are assumed L2-normalised (dot product = cosine). Returns indices in pick order.
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise ConfigError(f"lambda_mult must be between 0 (most diverse) and 1 (most relevant), got {lambda_mult}")
    n = len(doc_vecs)
    if n == 0:
        return []
    rel = doc_vecs @ query_vec
    sims = doc_vecs @ doc_vecs.T
    chosen: list[int] = []
    best_div = np.full(n, -np.inf)
    for _ in range(min(k, n)):
        penalty = np.where(np.isinf(best_div), 0.0, best_div)
        score = lambda_mult * rel - (1.0 - lambda_mult) * penalty
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        chosen.append(pick)
        best_div = np.maximum(np.where(np.isinf(best_div), -1.0, best_div), sims[pick])
    return chosen


class MMRRetriever(Retriever):
    """Maximal marginal relevance over the dense candidates, for diverse results.

    Fetches ``fetch_k`` candidates from ``base`` (a :class:`DenseRetriever`, or a
    store, wrapped in one), re-embeds them with the embedder and picks ``k``
    with :func:`mmr_select`. ``lambda_mult``: 1 = pure relevance, 0 = pure
    diversity. Returned scores are the original relevance scores.

    >>> MMRRetriever(DenseRetriever(store), lambda_mult=0.5)("solar system", k=4)   # doctest: +SKIP
    """

    def __init__(self, base: Any, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, embedder: Any = None):
        self.base = base if isinstance(base, Retriever) else DenseRetriever(base)
        self.embedder = embedder or getattr(self.base, "embedder", None)
        if self.embedder is None:
            raise ConfigError("MMRRetriever needs an embedder: pass embedder=Embedder() or a store that has one")
        if not 0.0 <= lambda_mult <= 1.0:
            raise ConfigError(f"lambda_mult must be between 0 and 1, got {lambda_mult}")
        self.k, self.fetch_k, self.lambda_mult = check_k(k), check_k(fetch_k), lambda_mult

    def retrieve(self, query: str, k: int | None = None) -> list[ScoredDocument]:
        k = check_k(self.k if k is None else k)
        candidates = self.base.retrieve(check_query(query), max(self.fetch_k, k))
        if not candidates:
            return []
        vecs = np.asarray(self.embedder.embed_documents([c.text for c in candidates]), dtype=np.float32)
        qvec = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        return [candidates[i] for i in mmr_select(qvec, vecs, k, self.lambda_mult)]

    def __repr__(self) -> str:
        return f"MMRRetriever({self.base!r}, fetch_k={self.fetch_k}, lambda_mult={self.lambda_mult})"


def hybrid_retriever(store: Any, k: int = 4, score_threshold: float | None = 0.3, rrf_k: int = 60) -> HybridRetriever:
    """The default retriever over a store: dense (with ``score_threshold``) + BM25, fused by RRF.

    The dense retriever gates the hybrid: when no document passes the dense
    threshold (0.3 cosine suits all-MiniLM-L6-v2), nothing is returned, so a RAG
    over it says it does not know instead of answering from keyword noise.
    """
    from augment.retrieval.bm25 import BM25Retriever

    return HybridRetriever([DenseRetriever(store, k=k, score_threshold=score_threshold), BM25Retriever(store, k=k)],
                           rrf_k=rrf_k, k=k, gate=0)


# BM25 and rerank live in their own modules (heavy imports stay lazy); re-exported here
__getattr__, __dir__ = lazy_attributes(globals(), {
    "BM25Retriever": "augment.retrieval.bm25",
    "RerankRetriever": "augment.retrieval.rerank",
    "CrossEncoderReranker": "augment.retrieval.rerank",
})
