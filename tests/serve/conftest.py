"""Fixtures of the server tests: a RAG server over the sample docs (examples/docs) on the real default model."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def rag_server(default_llm, default_embedder, tmp_path_factory):
    """``augment serve --collection`` over a fresh persistent collection of examples/docs, on 127.0.0.1."""
    from augment.rag import RAG
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.retriever import hybrid_retriever
    from augment.retrieval.store import ChromaStore
    from augment.serve import make_server

    store = ChromaStore("samples", path=tmp_path_factory.mktemp("chroma"), embedder=default_embedder)
    ingest([ROOT / "examples" / "docs"], store, glob="*.md", ignore=("README.md",), progress=False)
    # reader="model": these tests check that the model's tokens stream to the client (and to the page);
    # the default model's RAG would otherwise extract its answer, which arrives in one piece
    rag = RAG(default_llm, hybrid_retriever(store, k=3), k=3, max_tokens=32, reader="model")
    feedback = tmp_path_factory.mktemp("feedback") / "fb.jsonl"
    with make_server(default_llm, port=0, rag=rag, feedback=feedback) as s:
        yield s
