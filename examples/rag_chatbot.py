"""RAG chatbot over examples/docs on the embedded default model, with checked citations.

1. ingest examples/docs/*.md into a persistent Chroma collection (".augment/chroma",
   or $AUGMENT_CHROMA_DIR); a second run finds every file unchanged and embeds nothing;
2. answer two questions over a hybrid (dense + BM25) retriever, printing each
   answer, who wrote it, the sentences no cited source supports, and the cited
   sources with their scores; with the default model (SmolLM2-135M-Instruct) the
   answer is the source sentence that answers it, copied with its citation, or
   "I don't know" and why (RAG(reader="model") lets the model write instead);
3. ask an off-topic question: retrieval finds nothing, so it says it does not
   know without calling the model.

    python examples/rag_chatbot.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DOCS = Path(__file__).resolve().parent / "docs"
QUESTIONS = ["How tall is the Eiffel Tower?", "How often is the Eiffel Tower repainted?",
             "Who won the 1998 football world cup?"]


def main(questions: list[str] | None = None, db: str | Path | None = None) -> list:
    from augment import RAG, ChromaStore, Embedder, load_llm
    from augment.retrieval import TokenSplitter, hybrid_retriever, ingest

    embedder = Embedder()
    store = ChromaStore("augment-samples", path=db, embedder=embedder)
    # small chunks (about one section each) suit a 135M model's attention span
    report = ingest([DOCS], store, glob="*.md", ignore=("README.md",), progress=False,
                    splitter=TokenSplitter(embedder, chunk_size=100, chunk_overlap=10))
    print(f"ingest into {store.location}: {report.summary()}")

    t0 = time.perf_counter()
    llm = load_llm()
    print(f"loaded {llm.model_name} in {time.perf_counter() - t0:.1f} s")
    rag = RAG(llm, hybrid_retriever(store, k=3), k=3, max_tokens=80)
    answers = []
    for question in questions or QUESTIONS:
        t0 = time.perf_counter()
        answer = rag.ask(question)
        print(f"\nQ: {question}  ({time.perf_counter() - t0:.1f} s)")
        print(f"A ({answer.reader}): {answer.answer}")
        for sentence in answer.unsupported:
            print(f"  ! not supported by the cited sources: {sentence}")
        if answer.citations:
            print(answer.format_sources())
        answers.append(answer)
    return answers


if __name__ == "__main__":
    main()
