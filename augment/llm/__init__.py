"""Language models: the :class:`LLM` interface, backends and :func:`load_llm`.

Backends are imported lazily so that ``import augment`` stays fast.
"""

from __future__ import annotations

from augment._lazy import lazy_attributes
from augment.llm.base import LLM, GenerateOptions, normalize_messages
from augment.llm.fake import FakeLLM

__all__ = ["LLM", "GenerateOptions", "normalize_messages", "FakeLLM", "TransformersLLM", "OpenAICompatibleLLM", "LlamaCppLLM",
           "load_llm", "resolve_spec"]

__getattr__, __dir__ = lazy_attributes(globals(), {
    "TransformersLLM": "augment.llm.transformers",
    "OpenAICompatibleLLM": "augment.llm.openai",
    "LlamaCppLLM": "augment.llm.llamacpp",
    "load_llm": "augment.llm.loader",
    "resolve_spec": "augment.llm.loader",
})
