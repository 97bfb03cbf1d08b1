"""Retrieval: documents, embeddings, the Chroma store, ingestion and retrievers.

Names are imported lazily, so ``import augment.retrieval`` stays fast.

>>> from augment.retrieval import FakeEmbedder
>>> FakeEmbedder(dimension=4).dimension
4
"""

from __future__ import annotations

from augment._lazy import lazy_attributes


_LAZY = {
    # documents
    "load_file": "augment.retrieval.documents",
    "load_path": "augment.retrieval.documents",
    "iter_files": "augment.retrieval.documents",
    "scan_files": "augment.retrieval.documents",
    "RecursiveSplitter": "augment.retrieval.documents",
    "TokenSplitter": "augment.retrieval.documents",
    "split_documents": "augment.retrieval.documents",
    # embeddings
    "BaseEmbedder": "augment.retrieval.embeddings",
    "Embedder": "augment.retrieval.embeddings",
    "FakeEmbedder": "augment.retrieval.embeddings",
    "EmbeddingCache": "augment.retrieval.embeddings",
    # interfaces
    "Store": "augment.retrieval.base",
    # store and ingestion
    "ChromaStore": "augment.retrieval.store",
    "doc_id": "augment.retrieval.store",
    "ingest": "augment.retrieval.ingestion",
    "IngestReport": "augment.retrieval.ingestion",
    "file_records": "augment.retrieval.ingestion",
    # retrievers (retrieval engineer)
    "Retriever": "augment.retrieval.base",
    "DenseRetriever": "augment.retrieval.retriever",
    "BM25Retriever": "augment.retrieval.retriever",
    "HybridRetriever": "augment.retrieval.retriever",
    "MMRRetriever": "augment.retrieval.retriever",
    "RerankRetriever": "augment.retrieval.rerank",
    "CrossEncoderReranker": "augment.retrieval.rerank",
    "hybrid_retriever": "augment.retrieval.retriever",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
