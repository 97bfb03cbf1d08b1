"""LangChain interop: the one place that imports ``langchain_core``.

- :class:`ChatAugment`: any augment LLM as a LangChain ``BaseChatModel``
- :class:`AugmentVectorStore`: our Chroma store as a LangChain ``VectorStore``
- :class:`AugmentRetriever`: any augment retriever as a LangChain ``BaseRetriever``
- :func:`to_langchain_tool` / :func:`from_langchain_tool`: tools both ways
- :func:`to_langchain_prompt` / :func:`from_langchain_prompt`: prompt templates both ways

It is a package (one module per adapter) rather than one file so that each
adapter stays small; the names above are all importable from here.
"""

from __future__ import annotations

from augment._lazy import lazy_attributes


_LAZY = {
    "ChatAugment": "augment.langchain.chat",
    "AugmentVectorStore": "augment.langchain.vectorstore",
    "AugmentEmbeddings": "augment.langchain.vectorstore",
    "AugmentRetriever": "augment.langchain.retriever",
    "to_langchain_tool": "augment.langchain.tools",
    "from_langchain_tool": "augment.langchain.tools",
    "to_langchain_prompt": "augment.langchain.prompts",
    "from_langchain_prompt": "augment.langchain.prompts",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
