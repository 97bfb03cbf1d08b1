"""augment: augmented language models, offline-first.

One LLM wrapper (a local Hugging Face model or any OpenAI-compatible server),
retrieval over Chroma, tools and agents, prompting, fine-tuning and evaluation.

>>> import augment
>>> llm = augment.FakeLLM(["hello"])          # or augment.load_llm() for the real default model
>>> llm.complete("Say hello").text
'hello'

Heavy packages (torch, transformers, chromadb) are imported only when the part
that needs them is used, so ``import augment`` is fast.
"""

from __future__ import annotations

from augment._lazy import lazy_attributes


__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    # types and errors
    "Message": "augment.types",
    "ToolCall": "augment.types",
    "Completion": "augment.types",
    "Usage": "augment.types",
    "Document": "augment.types",
    "ScoredDocument": "augment.types",
    "AugmentError": "augment.errors",
    # models
    "LLM": "augment.llm.base",
    "GenerateOptions": "augment.llm.base",
    "FakeLLM": "augment.llm.fake",
    "load_llm": "augment.llm.loader",
    "TransformersLLM": "augment.llm.transformers",
    "OpenAICompatibleLLM": "augment.llm.openai",
    # retrieval and RAG
    "Embedder": "augment.retrieval.embeddings",
    "ChromaStore": "augment.retrieval.store",
    "Store": "augment.retrieval.base",
    "Retriever": "augment.retrieval.retriever",
    "DenseRetriever": "augment.retrieval.retriever",
    "BM25Retriever": "augment.retrieval.retriever",
    "HybridRetriever": "augment.retrieval.retriever",
    "RAG": "augment.rag",
    # tools and agents
    "tool": "augment.tools",
    "Tool": "augment.tools",
    "ToolRegistry": "augment.tools",
    "Agent": "augment.agent",
    # prompting
    "PromptTemplate": "augment.prompts",
    "FewShot": "augment.prompts",
    "ChainOfThought": "augment.prompts",
    "SelfConsistency": "augment.prompts",
    # evaluation
    "evaluate": "augment.eval",
    # alignment and safety
    "Guard": "augment.guard",
}

__all__ = sorted(_LAZY) + ["__version__"]

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
