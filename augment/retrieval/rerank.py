"""Cross-encoder reranking from a local model folder (sentence-transformers ``CrossEncoder``).

Nothing is downloaded: give the folder of a cross-encoder (for instance a copy
of ``cross-encoder/ms-marco-MiniLM-L-6-v2``) that you have on disk.

>>> reranked = RerankRetriever(HybridRetriever([...]), "models/ms-marco-MiniLM-L-6-v2")   # doctest: +SKIP
>>> reranked("how are ids made stable?", k=3)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from augment.errors import ConfigError, MissingDependencyError, ModelLoadError, ModelNotFoundError
from augment.retrieval.base import Retriever, check_k, check_query
from augment.types import ScoredDocument

__all__ = ["CrossEncoderReranker", "RerankRetriever"]


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a cross-encoder and sorts passages by that score.

    >>> reranker = CrossEncoderReranker("models/ms-marco-MiniLM-L-6-v2")   # doctest: +SKIP
    >>> reranker.rerank("query", hits)[0].score   # doctest: +SKIP
    """

    def __init__(self, model_path: str | os.PathLike, device: str = "cpu", batch_size: int = 32,
                 max_length: int | None = 512):
        path = Path(model_path).expanduser()
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelNotFoundError(f"No cross-encoder model folder at {path} (it needs a config.json). "
                                     "Give the local folder of a sentence-transformers CrossEncoder; "
                                     "augment downloads nothing.")
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as e:  # pragma: no cover - a core dependency
            raise MissingDependencyError("sentence-transformers", purpose="cross-encoder reranking") from e
        try:
            self.model = CrossEncoder(str(path), device=device, max_length=max_length, local_files_only=True)
        except Exception as e:
            raise ModelLoadError(f"Could not load the cross-encoder from {path}: {e}. "
                                 "Give a folder saved by CrossEncoder.save() or a Hugging Face "
                                 "sequence-classification model with its tokenizer.") from e
        self.path, self.batch_size = path, batch_size

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text (higher is better)."""
        if not texts:
            return []
        scores = self.model.predict([(query, t) for t in texts], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores.reshape(len(texts), -1)[:, -1]]

    def rerank(self, query: str, hits: Sequence[ScoredDocument], k: int | None = None) -> list[ScoredDocument]:
        """``hits`` sorted by cross-encoder score (the new ``score``), best first, cut to ``k``."""
        scores = self.score(query, [h.text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -scores[i])
        return [replace(hits[i], score=scores[i]) for i in order][: k or len(hits)]


class RerankRetriever(Retriever):
    """Reranks the top ``fetch_k`` of a base retriever with a cross-encoder.

    ``reranker``: a local model folder or a :class:`CrossEncoderReranker`.
    Returned scores are the cross-encoder's.

    >>> RerankRetriever(DenseRetriever(store), "models/ms-marco-MiniLM-L-6-v2", fetch_k=20)("q", k=4)   # doctest: +SKIP
    """

    def __init__(self, base: Retriever, reranker: str | os.PathLike | CrossEncoderReranker, k: int = 4,
                 fetch_k: int = 20):
        if not isinstance(base, Retriever):
            raise ConfigError(f"RerankRetriever wraps an augment Retriever; got {type(base).__name__}")
        self.base, self.k, self.fetch_k = base, check_k(k), check_k(fetch_k)
        self.reranker = reranker if isinstance(reranker, CrossEncoderReranker) else CrossEncoderReranker(reranker)

    @property
    def embedder(self) -> Any:  # type: ignore[override]
        return getattr(self.base, "embedder", None)

    def retrieve(self, query: str, k: int | None = None) -> list[ScoredDocument]:
        k = check_k(self.k if k is None else k)
        candidates = self.base.retrieve(check_query(query), max(self.fetch_k, k))
        return self.reranker.rerank(query, candidates, k)

    def __repr__(self) -> str:
        return f"RerankRetriever({self.base!r}, {str(self.reranker.path)!r}, fetch_k={self.fetch_k})"
