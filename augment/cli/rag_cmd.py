"""``augment ingest`` and ``augment collections``.

    augment ingest docs/ notes.md --collection notes            # embedded store in ./.augment/chroma
    augment ingest docs/ --collection notes --db /data/chroma
    augment ingest docs/ --collection notes --chroma-url http://127.0.0.1:8000
    augment collections --db /data/chroma
"""

from __future__ import annotations

import json
import sys

import click

from augment.cli._common import open_store, store_options
from augment.errors import AugmentError

__all__ = ["ingest", "collections"]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--collection", "-c", required=True, help="Collection to ingest into (created when missing).")
@store_options
@click.option("--glob", "globs", multiple=True, metavar="PATTERN",
              help="Files to take from folders, e.g. '**/*.md' (repeatable) [default: every supported type].")
@click.option("--ignore", "ignores", multiple=True, metavar="PATTERN",
              help="fnmatch patterns to skip (repeatable), added to the defaults (hidden files, __pycache__...).")
@click.option("--chunk-size", default=200, show_default=True, help="Chunk size in the embedder's tokens.")
@click.option("--chunk-overlap", default=20, show_default=True, help="Overlap between chunks, in tokens.")
@click.option("--max-mb", default=20.0, show_default=True, help="Files larger than this fail (MB).")
@click.option("--batch-size", default=256, show_default=True, help="Chunks per write.")
@click.option("--embedder", "embedder_path", default=None, metavar="PATH",
              help="A sentence-transformers model folder [default: the packaged all-MiniLM-L6-v2].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest(paths, collection, db, chroma_url, globs, ignores, chunk_size, chunk_overlap, max_mb, batch_size,
           embedder_path, as_json, quiet):  # type: ignore[no-untyped-def]
    """Ingest files and folders (.txt .md .html .pdf .jsonl) into a collection.

    Unchanged files are skipped; changed files replace their old chunks; files
    that cannot be read are listed at the end and the rest are ingested.
    Exit status 1 when some files failed.
    """
    from augment.retrieval.documents import DEFAULT_IGNORE, TokenSplitter
    from augment.retrieval.embeddings import Embedder
    from augment.retrieval.ingestion import ingest as run_ingest

    try:
        embedder = Embedder(embedder_path)
        store = open_store(collection, db, chroma_url, embedder=embedder)
        report = run_ingest(list(paths), store, glob=list(globs) or None, ignore=tuple(DEFAULT_IGNORE) + ignores,
                            splitter=TokenSplitter(embedder, chunk_size, chunk_overlap),
                            max_bytes=int(max_mb * 1024 * 1024), batch_size=batch_size, progress=not quiet)
    except AugmentError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "collection": collection, "count": store.count()}))
    else:
        click.echo(report.summary())
        click.echo(f"collection {collection!r} at {store.location}: {store.count()} chunk(s)")
    if report.failed:
        sys.exit(1)


@click.command()
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def collections(db, chroma_url, as_json):  # type: ignore[no-untyped-def]
    """List the collections of a store with their sizes and embedding models."""
    from augment.retrieval.store import describe_store

    if db and chroma_url:
        raise click.UsageError("Give --db or --chroma-url, not both.")
    try:
        rows = describe_store(path=db, url=chroma_url)
    except AugmentError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no collections")
        return
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{width}}  {'chunks':>8}  embedder")
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['count']:>8}  {r['embedder'] or '?'} ({r['dimension'] or '?'}d)")
