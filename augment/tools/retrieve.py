"""``retrieve``: search any augment retriever and return numbered passages with their sources.

>>> from augment.tools.retrieve import Retrieve
>>> from augment.types import Document, ScoredDocument
>>> class Two:
...     def retrieve(self, query, k=4):
...         return [ScoredDocument(Document("Paris is in France.", {"source": "geo.md"}), 0.9)][:k]
>>> print(Retrieve(Two()).call({"query": "Where is Paris?"}))
[1] (source: geo.md, score 0.900) Paris is in France.
"""

from __future__ import annotations

from typing import Any, Optional

from augment.errors import ToolError
from augment.tools.base import Tool

__all__ = ["Retrieve"]


def _source(metadata: dict[str, Any], doc_id: str | None) -> str:
    for key in ("source", "path", "url", "title", "file"):
        if metadata.get(key):
            value = str(metadata[key])
            page = metadata.get("page")
            return f"{value}, page {page}" if page is not None else value
    return doc_id or "unknown"


class Retrieve(Tool):
    """Search the document collection and return the most relevant passages, numbered, with their sources.

    Works with any object that has ``retrieve(query, k) -> list[ScoredDocument]``
    (the retrievers of ``augment.retrieval``).
    """

    name = "retrieve"
    permissions = ("read_only",)

    def __init__(
        self,
        retriever: Any,
        *,
        k: int = 4,
        max_k: int = 10,
        max_chars_per_passage: int = 800,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = 60.0,
    ):
        if not callable(getattr(retriever, "retrieve", None)):
            raise ToolError(
                f"retrieve tool: {retriever!r} has no retrieve(query, k) method; pass an augment retriever "
                f"(e.g. DenseRetriever, BM25Retriever, HybridRetriever)"
            )
        if not 1 <= k <= max_k:
            raise ToolError(f"retrieve tool: k must be between 1 and max_k={max_k}, got {k}")
        self.retriever = retriever
        self.k = k
        self.max_k = max_k
        self.max_chars_per_passage = max_chars_per_passage
        super().__init__(name=name, description=description, timeout=timeout)

    def forward(self, query: str, k: Optional[int] = None) -> str:
        """Args:
            query: what to search for, in a few words or a question
            k: how many passages to return (default 4)
        """
        if not query.strip():
            raise ToolError("retrieve: the query is empty; give words or a question to search for")
        k = self.k if k is None else max(1, min(int(k), self.max_k))
        results = list(self.retriever.retrieve(query, k))[:k]
        if not results:
            return f"No passages found for {query!r}."
        lines = []
        for i, hit in enumerate(results, 1):
            doc = getattr(hit, "document", hit)
            text = " ".join(str(getattr(doc, "text", doc)).split())
            if len(text) > self.max_chars_per_passage:
                text = text[: self.max_chars_per_passage] + "..."
            meta = getattr(doc, "metadata", {}) or {}
            score = getattr(hit, "score", None)
            where = _source(meta, getattr(doc, "id", None))
            lines.append(f"[{i}] (source: {where}" + (f", score {score:.3f}" if score is not None else "") + f") {text}")
        return "\n".join(lines)
