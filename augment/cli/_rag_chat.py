"""``augment ask --collection`` and ``augment chat --collection``: RAG over a Chroma collection.

``augment/cli/chat_cmd.py`` parses the options and calls :func:`rag_ask` / :func:`rag_chat`
when ``--collection`` is given. Both print the checked answer and the cited
sources (number, source path, score); chat keeps the conversation history.

>>> rag_ask(load_llm(), "How tall is the Eiffel Tower?", "samples", db=".augment/chroma")   # doctest: +SKIP
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from augment.errors import StoreError
from augment.types import Message

__all__ = ["rag_ask", "rag_chat", "open_rag", "print_answer"]

EXIT_WORDS = {"exit", "quit", ":q", "/exit", "/quit"}


def open_rag(llm: Any, collection: str, db: str | None = None, chroma_url: str | None = None,
             max_tokens: int = 200, k: int = 4, score_threshold: float = 0.3, embedder: Any = None,
             reader: str = "auto") -> Any:
    """A :class:`~augment.rag.RAG` over an existing collection with the default hybrid retriever
    (``reader``: who writes the answers, see :class:`~augment.rag.RAG`)."""
    from augment.rag import RAG
    from augment.retrieval.retriever import hybrid_retriever
    from augment.retrieval.store import ChromaStore

    store = ChromaStore(collection, path=db, url=chroma_url, embedder=embedder, create=False)
    if store.count() == 0:
        raise StoreError(f"Collection {collection!r} in {store.location} is empty. "
                         f"Add documents with: augment ingest PATH --collection {collection}")
    return RAG(llm, hybrid_retriever(store, k=k, score_threshold=score_threshold), k=k, max_tokens=max_tokens,
               reader=reader)


def print_answer(answer: Any, out: TextIO | None = None, show_answer: bool = True) -> None:
    """The answer, flagged sentences, and one line per cited source."""
    echo = lambda text="": click.echo(text, file=out)  # noqa: E731
    if show_answer:
        echo(answer.answer)
    if answer.abstained:
        return
    if answer.unsupported:
        echo()
        echo("Not supported by the cited sources:")
        for s in answer.unsupported:
            echo(f"  ! {s}")
    shown = answer.citations or dict(enumerate(answer.sources, start=1))
    if shown:
        echo()
        echo("Sources:" if answer.citations else "Sources (retrieved; the answer cites none):")
        for n, src in sorted(shown.items()):
            where = src.metadata.get("source") or src.metadata.get("title") or src.id
            mark = " (citation inferred)" if n in answer.inferred_citations else ""
            echo(f"  [{n}] {where} (score {src.score:.3f}){mark}")


def _stream(rag: Any, conversation: Any, out: TextIO | None) -> Any:
    """Stream the raw text, then print the checked answer when it differs, and the sources."""
    final = None
    shown = []
    for item in rag.stream(conversation):
        if isinstance(item, str):
            shown.append(item)
            click.echo(item, nl=False, file=out)
        else:
            final = item
    click.echo(file=out)
    if final is not None and final.answer.strip() != "".join(shown).strip():
        click.echo(f"\nChecked answer: {final.answer}", file=out)
    print_answer(final, out, show_answer=False)
    return final


def rag_ask(llm: Any, question: str, collection: str, db: str | None = None, chroma_url: str | None = None,
            max_tokens: int = 200, k: int = 4, score_threshold: float = 0.3, stream: bool = False,
            show_prompt: bool = False, out: TextIO | None = None, embedder: Any = None, reader: str = "auto") -> Any:
    """Answer one question over ``collection``; print the answer and its cited sources; return the RAGAnswer."""
    rag = open_rag(llm, collection, db, chroma_url, max_tokens, k, score_threshold, embedder, reader)
    if show_prompt:
        click.echo(rag.show_prompt(question), file=out)
        click.echo("-" * 40, file=out)
    if stream:
        return _stream(rag, question, out)
    answer = rag.ask(question)
    print_answer(answer, out)
    return answer


def rag_chat(llm: Any, collection: str, db: str | None = None, chroma_url: str | None = None,
             max_tokens: int = 200, k: int = 4, score_threshold: float = 0.3, stream: bool = True,
             input_stream: TextIO | None = None, out: TextIO | None = None, embedder: Any = None,
             session: Any = None, reader: str = "auto") -> list[Message]:
    """Interactive RAG chat over ``collection``: history kept, ``/reset`` forgets it, ``exit``/``/exit`` or
    end of input stops. Returns the history. ``session``: a name whose saved turns start the history."""
    from augment.sessions import open_session

    rag = open_rag(llm, collection, db, chroma_url, max_tokens, k, score_threshold, embedder, reader)
    inp = input_stream or sys.stdin
    saved = open_session(session, "rag")
    history: list[Message] = saved.messages if saved else []
    click.echo(f"Chatting over collection {collection!r}. Type 'exit' to stop.", file=out)
    while True:
        click.echo("you> ", nl=False, file=out)
        line = inp.readline()
        if not line:
            click.echo(file=out)
            break
        text = line.strip()
        if not text:
            continue
        if text.lower() in EXIT_WORDS:
            break
        if text.lower() == "/reset":
            history = []
            if saved is not None:
                saved.clear()
            click.echo("(history cleared)", file=out)
            continue
        history.append(Message.user(text))
        click.echo("bot> ", nl=False, file=out)
        answer = _stream(rag, history, out) if stream else rag.chat(history)
        if not stream:
            print_answer(answer, out)
        history.append(Message.assistant(answer.answer))
        if saved is not None:
            saved.add(*history[-2:])
        click.echo(file=out)
    return history
