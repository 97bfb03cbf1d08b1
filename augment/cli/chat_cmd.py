"""``augment chat`` (interactive, streamed, with history) and ``augment ask "question"`` (one shot).

Both take ``--model`` (any :func:`augment.llm.loader.load_llm` spec; default:
the embedded SmolLM2-135M-Instruct, see :func:`chat_model_spec` for its engine) and ``--max-tokens``. With
``--collection NAME`` they answer over a Chroma collection with cited sources
(see :mod:`augment.cli._rag_chat`).

Chat commands: ``/reset`` forgets the conversation, ``/exit`` (or end of
input) quits.

    $ augment ask "What is the capital of France?" --max-tokens 32
    $ augment chat --system "Answer in one sentence."
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from augment.cli._common import fail, load_llm, model_option, reader_option, store_options

__all__ = ["chat", "ask", "run_chat"]

EXIT_COMMANDS = {"/exit", "/quit"}
RESET_COMMANDS = {"/reset"}


def _model_options(f: Any) -> Any:
    f = click.option("--guard", "guard_policy", default=None, type=click.Path(dir_okay=False, exists=True),
                     help="Guard policy file (YAML): content checks, PII redaction (see README, Alignment and safety).")(f)
    f = store_options(f)
    f = click.option("--collection", default=None, help="Answer over this Chroma collection, with sources.")(f)
    f = click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1),
                     help="Maximum new tokens per answer.")(f)
    f = model_option(f)
    return f


def chat_model_spec(model: str | None, *, collection: str | None = None, guard_policy: str | None = None) -> str | None:
    """The model spec for a chat command: ``--model`` when given; for free-form answers on the embedded
    default model, ``"llamacpp"`` when llama-cpp-python is installed, else ``None`` (transformers).

    Free-form chat is long decoding, where llama.cpp is the faster engine (measured by
    ``tools/bench_agent_step.py``: 80-130 against 14-22 tokens/s on 2 cores). Answers over a
    collection and guarded chats stay on transformers, the engine of the extractive reader's
    rewrites and of the guard's intent classifier (which reads the model's hidden states);
    ``--model default`` asks for transformers anyway.
    """
    if model or collection or guard_policy:
        return model
    import importlib.util

    return "llamacpp" if importlib.util.find_spec("llama_cpp") is not None else None


def guarded(llm: Any, policy: str | None) -> Any:
    """``llm`` behind a :class:`~augment.guard.Guard` configured by the ``--guard`` file (or as is)."""
    if not policy:
        return llm
    from augment.guard import Guard

    return Guard.from_file(policy, llm).as_llm()


@click.command()
@click.argument("question")
@_model_options
@click.option("--system", default=None, help="A system message to prepend.")
@reader_option
def ask(question: str, model: str | None, max_tokens: int, collection: str | None, db: str | None,
        chroma_url: str | None, guard_policy: str | None, system: str | None, reader: str = "auto") -> None:
    """Ask one QUESTION and print the answer."""
    try:
        llm = guarded(load_llm(chat_model_spec(model, collection=collection, guard_policy=guard_policy)), guard_policy)
        if collection:
            from augment.cli._rag_chat import rag_ask

            rag_ask(llm, question, collection=collection, db=db, chroma_url=chroma_url, max_tokens=max_tokens,
                    reader=reader)
            return
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
        click.echo(llm.complete(messages, max_tokens=max_tokens).text)
    except Exception as e:  # AugmentError -> clean message, anything else is a bug
        fail(e)


@click.command()
@_model_options
@click.option("--system", default=None, help="A system message kept at the top of the conversation.")
@click.option("--stats/--no-stats", default=False, help="Print tokens/s after each answer.")
@click.option("--session", default=None, help="Keep the conversation in this named session (resumed when it exists).")
@reader_option
def chat(model: str | None, max_tokens: int, collection: str | None, db: str | None, chroma_url: str | None,
         guard_policy: str | None, system: str | None, stats: bool, session: str | None = None,
         reader: str = "auto") -> None:
    """Chat interactively; answers stream as they are generated. /reset forgets, /exit quits."""
    try:
        llm = guarded(load_llm(chat_model_spec(model, collection=collection, guard_policy=guard_policy)), guard_policy)
        if collection:
            from augment.cli._rag_chat import rag_chat

            rag_chat(llm, collection=collection, db=db, chroma_url=chroma_url, max_tokens=max_tokens, session=session,
                     reader=reader)
            return
        run_chat(llm, system=system, max_tokens=max_tokens, stats=stats, session=session)
    except Exception as e:
        fail(e)


def run_chat(llm: Any, *, system: str | None = None, max_tokens: int = 256, stats: bool = False,
             input_stream: Any = None, session: Any = None) -> list[dict[str, str]]:
    """The REPL loop behind ``augment chat``; returns the final history (role/content dicts).

    ``session``: a name (or :class:`~augment.sessions.Session`) whose saved turns start the history
    and where each new turn is saved."""
    from augment.sessions import open_session
    from augment.types import Completion, Message

    inp = input_stream or sys.stdin
    base = [{"role": "system", "content": system}] if system else []
    saved = open_session(session, "chat")
    history = list(base) + ([m.to_dict() for m in saved.messages] if saved else [])
    if saved is not None and len(history) > len(base):
        click.echo(f"(resumed session {saved.id!r}: {len(history) - len(base)} messages)")
    click.echo(f"Chatting with {llm.model_name}. /reset forgets the conversation, /exit quits.")
    while True:
        click.echo("you> ", nl=False)
        line = inp.readline()
        if not line:
            click.echo()
            break
        text = line.strip()
        if not text:
            continue
        if text in EXIT_COMMANDS:
            break
        if text in RESET_COMMANDS:
            history = list(base)
            if saved is not None:
                saved.clear()
            click.echo("(conversation reset)")
            continue
        history.append({"role": "user", "content": text})
        click.echo("assistant> ", nl=False)
        start, final = time.perf_counter(), None
        for item in llm.stream(history, max_tokens=max_tokens):
            if isinstance(item, Completion):
                final = item
            else:
                click.echo(item, nl=False)
        click.echo()
        answer = final.text if final is not None else ""
        history.append({"role": "assistant", "content": answer})
        if saved is not None:
            saved.add(Message.user(text), Message.assistant(answer))
        if stats and final is not None:
            elapsed = time.perf_counter() - start
            click.echo(f"({final.usage.completion_tokens} tokens, {final.usage.completion_tokens / elapsed:.1f} tokens/s)")
    return history
