"""Language models: the :class:`LLM` interface, backends and :func:`load_llm`.

Backends are imported lazily so that ``import augment`` stays fast.
"""

from __future__ import annotations

from typing import Any

from augment.llm.base import LLM, GenerateOptions, normalize_messages
from augment.llm.fake import FakeLLM

__all__ = ["LLM", "GenerateOptions", "normalize_messages", "FakeLLM", "TransformersLLM", "OpenAICompatibleLLM", "LlamaCppLLM", "load_llm"]


def __getattr__(name: str) -> Any:
    if name == "TransformersLLM":
        from augment.llm.transformers import TransformersLLM

        return TransformersLLM
    if name == "OpenAICompatibleLLM":
        from augment.llm.openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM
    if name == "LlamaCppLLM":
        from augment.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM
    if name == "load_llm":
        from augment.llm.loader import load_llm

        return load_llm
    raise AttributeError(f"module 'augment.llm' has no attribute {name!r}")
