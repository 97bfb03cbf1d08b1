"""Helpers shared by the command modules: loading a model quietly, the store options, clean errors.

Command modules are named ``<command>_cmd.py``; modules starting with ``_``
(this one, ``_rag_chat.py``) hold helpers and define no command.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import click

from augment.errors import AugmentError

__all__ = ["MODEL_HELP", "model_option", "reader_option", "load_llm", "store_options", "open_store", "fail"]

MODEL_HELP = "Model spec: a folder, a .gguf file, hf:ORG/NAME or openai:MODEL (default: embedded SmolLM2)."


def model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--model`` / ``-m`` option, the same for every command."""
    return click.option("--model", "-m", default=None, help=MODEL_HELP)(f)


#: RAG's readers (augment.rag.READERS, repeated here so that parsing options imports no model code)
READERS = ("auto", "model", "extract")


def reader_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--reader`` option of the RAG commands (``RAG(reader=...)``), the same for every command."""
    return click.option("--reader", default="auto", show_default=True, type=click.Choice(READERS),
                        help="Who writes RAG answers. extract: the best source sentence, copied and cited; "
                             "model: the LLM; auto: extract on the embedded default model, the LLM otherwise.")(f)


def load_llm(spec: str | None = None, **kwargs: Any) -> Any:
    """Load the model for a command (quietly: no transformers progress bars). Nothing is downloaded:
    local models load with ``local_files_only``."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a core dependency
        pass
    from augment.llm.loader import load_llm as _load

    return _load(spec or None, **kwargs)


def fail(e: BaseException) -> NoReturn:
    """Re-raise ``e``: an :class:`AugmentError` as a clean click error (exit 1, no traceback), anything else as is (a bug)."""
    if isinstance(e, AugmentError):
        raise click.ClickException(str(e)) from e
    raise e


def store_options(fn):  # type: ignore[no-untyped-def]
    """The ``--db`` / ``--chroma-url`` options shared by the commands that open a store."""
    fn = click.option("--chroma-url", default=None, metavar="URL",
                      help="A Chroma server (start one with `chroma run --path DIR --port 8000`).")(fn)
    fn = click.option("--db", default=None, metavar="DIR", type=click.Path(file_okay=False),
                      help="Folder of the embedded Chroma store [default: $AUGMENT_CHROMA_DIR or ./.augment/chroma].")(fn)
    return fn


def open_store(collection: str, db: str | None, chroma_url: str | None, embedder=None, create: bool = True):  # type: ignore[no-untyped-def]
    """A :class:`~augment.retrieval.store.ChromaStore` from the CLI options (errors become click errors)."""
    from augment.retrieval.store import ChromaStore

    if db and chroma_url:
        raise click.UsageError("Give --db or --chroma-url, not both.")
    try:
        return ChromaStore(collection, path=db, url=chroma_url, embedder=embedder, create=create)
    except AugmentError as e:
        raise click.ClickException(str(e)) from e
