"""Any augment retriever as a LangChain ``BaseRetriever``.

>>> from augment.langchain import AugmentRetriever
>>> from augment.retrieval.retriever import ListRetriever
>>> from augment.types import Document
>>> lc = AugmentRetriever(retriever=ListRetriever([Document("a", id="1"), Document("b", id="2")]), k=1)
>>> [(d.page_content, d.metadata["score"]) for d in lc.invoke("query")]
[('a', 1.0)]
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, field_validator

from augment.errors import ConfigError
from augment.types import ScoredDocument

__all__ = ["AugmentRetriever", "to_langchain_document"]


def to_langchain_document(hit: ScoredDocument) -> LCDocument:
    """A LangChain ``Document`` with the augment metadata plus ``score``."""
    return LCDocument(page_content=hit.text, metadata={**hit.metadata, "score": hit.score}, id=hit.id)


class AugmentRetriever(BaseRetriever):
    """Wraps an augment :class:`~augment.retrieval.retriever.Retriever` (dense, BM25, hybrid, MMR, rerank).

    ``k`` is the default number of documents; ``invoke(query, k=3)`` overrides it.
    Each document's ``metadata["score"]`` holds the retriever's score.

    >>> from augment.retrieval.retriever import hybrid_retriever   # doctest: +SKIP
    >>> lc = AugmentRetriever(retriever=hybrid_retriever(store), k=4)   # doctest: +SKIP
    >>> lc.invoke("What is BM25?")   # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int = 4

    @field_validator("retriever")
    @classmethod
    def _check_retriever(cls, v: Any) -> Any:
        if not callable(getattr(v, "retrieve", None)):
            raise ConfigError(f"AugmentRetriever needs an augment retriever with retrieve(query, k); got {type(v).__name__}")
        return v

    @field_validator("k")
    @classmethod
    def _check_k(cls, v: int) -> int:
        if v < 1:
            raise ConfigError(f"k must be >= 1, got {v}")
        return v

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[LCDocument]:
        k = kwargs.pop("k", None) or self.k
        return [to_langchain_document(h) for h in self.retriever.retrieve(query, k)]

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[LCDocument]:
        k = kwargs.pop("k", None) or self.k
        aretrieve = getattr(self.retriever, "aretrieve", None)
        if aretrieve is not None:
            hits = await aretrieve(query, k)
        else:
            import asyncio

            hits = await asyncio.to_thread(self.retriever.retrieve, query, k)
        return [to_langchain_document(h) for h in hits]
