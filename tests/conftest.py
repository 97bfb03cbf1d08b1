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
def float32_reference():
    """The default model in float32 without 4-bit decode (every matmul in float32): the reference that
    the faster decode paths are measured against."""
    from augment.llm.loader import load_llm

    return load_llm(dtype="float32", packed_decode=False)


@pytest.fixture(scope="session")
def default_embedder():
    """The real default embedder (all-MiniLM-L6-v2), loaded once per test session."""
    from augment.retrieval.embeddings import Embedder

    return Embedder()


def _machine_line() -> str:
    from augment._cpu import cpu_has_fast_bf16, cpu_model

    return (f"augment: CPU {cpu_model()} ({'native' if cpu_has_fast_bf16() else 'no native'} bf16), "
            f"AUGMENT_CPU_DTYPE={os.environ.get('AUGMENT_CPU_DTYPE')}")


def pytest_report_header(config):
    """The CPU and its bf16 support in the header, so a log says which machine ran it."""
    return _machine_line()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The same line at the end, where `pytest -q` (make test, CI) still prints it."""
    terminalreporter.write_line(_machine_line())
