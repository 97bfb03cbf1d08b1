"""Shared fixtures. The real default model is loaded once per session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# greedy text differs between bfloat16 and float32: dtype="auto" would pick bf16 on CPUs with AMX and
# float32 elsewhere, so the suite pins float32 to expect the same words on every machine
os.environ.setdefault("AUGMENT_CPU_DTYPE", "float32")

import pytest


@pytest.fixture(scope="session")
def default_llm():
    """The real embedded default model (SmolLM2-135M-Instruct), loaded once per test session."""
    from augment.llm.loader import load_llm

    return load_llm()


@pytest.fixture(scope="session")
def default_embedder():
    """The real default embedder (all-MiniLM-L6-v2), loaded once per test session."""
    from augment.retrieval.embeddings import Embedder

    return Embedder()
