"""Ingestion: files and folders into a :class:`~augment.retrieval.store.ChromaStore`, idempotently.

For each file: hash its bytes; if the store records the same hash (and splitter)
the file is *unchanged* and nothing is read, split or embedded. Otherwise it is
loaded, split, embedded (through the embedding cache) and upserted under
content-hash ids; chunks of an older version of the file are deleted; and only
then is the file marked done. So a run killed at any point and run again leaves
a complete collection with no duplicates. Files that cannot be read are listed
in the report with the reason, and the rest are ingested; what a folder holds
that is not read (dangling or looping symlinks, FIFOs...) is listed as skipped,
and files read with the fallback encoding (not UTF-8) are listed too.

``prune=True`` also removes the chunks of files under the given paths whose file
is gone or no longer yields text (empty, binary, undecodable); ``dry_run=True``
writes nothing and lists what would be ingested and pruned.

>>> import tempfile, pathlib
>>> from augment.retrieval.embeddings import FakeEmbedder
>>> from augment.retrieval.store import ChromaStore
>>> folder = pathlib.Path(tempfile.mkdtemp()); _ = (folder / "a.txt").write_text("Chroma stores vectors.")
>>> store = ChromaStore("docs", path=tempfile.mkdtemp(), embedder=FakeEmbedder())
>>> ingest([folder], store, progress=False).added
1
>>> ingest([folder], store, progress=False).unchanged
1
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from augment.errors import DocumentLoadError, NoTextError
from augment.retrieval.documents import (
    DEFAULT_IGNORE,
    DEFAULT_MAX_BYTES,
    FALLBACK_ENCODING,
    RecursiveSplitter,
    TokenSplitter,
    check_supported,
    load_file,
    read_file_bytes,
    scan_files,
    split_documents,
)
from augment.retrieval.base import Store
from augment.types import Document

__all__ = ["ingest", "IngestReport", "default_splitter", "file_records", "mark_files", "unmark_files", "RECORD_KIND"]

#: the kind of the store's bookkeeping records that ingestion keeps: one per file, written after its chunks
RECORD_KIND = "files"


def file_records(store: Store) -> dict[str, dict[str, Any]]:
    """``{source: {"file_hash", "chunks", "splitter", "ingested_at"}}`` for every file fully ingested into ``store``."""
    return store.records(RECORD_KIND)


def mark_files(store: Store, records: Sequence[dict[str, Any]]) -> None:
    """Record files as done (``source`` and ``file_hash`` keys required). Call after their chunks are stored."""
    store.put_records(RECORD_KIND, {r["source"]: r for r in records})


def unmark_files(store: Store, sources: Sequence[str]) -> None:
    """Forget the records of these files (their next ingestion reads them again)."""
    store.delete_records(RECORD_KIND, list(sources))


@dataclass
class IngestReport:
    """What one ingestion did. ``failed`` lists ``(path, reason)`` for files that could not be read;
    ``skipped`` what folders hold that is not read; ``pruned`` ``(source, reason)`` for the files whose
    chunks were removed (or, in a dry run, would be); ``fallback_decoded`` the files that were not UTF-8
    and were read as Windows-1252.

    >>> IngestReport(files=2, new_files=1, failed=[("a.txt", "the file is empty")]).summary().splitlines()[1]
    '  FAILED a.txt: the file is empty'
    """

    files: int = 0  # files found
    new_files: int = 0  # files ingested for the first time
    replaced: int = 0  # files whose content changed: old chunks replaced
    unchanged: int = 0  # files skipped because the store already has this version
    added: int = 0  # chunks that were not in the store before
    removed: int = 0  # chunks of older file versions deleted
    chunks: int = 0  # chunks written (added or refreshed)
    embedded: int = 0  # chunks that needed the model (not in the embedding cache)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[tuple[str, str]] = field(default_factory=list)
    pruned_chunks: int = 0  # chunks of pruned files deleted (in a dry run: that would be)
    fallback_decoded: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> str:
        """A short human-readable summary, with one line per failed, skipped, pruned or re-decoded file."""
        would = "would be " if self.dry_run else ""
        lines = [f"{'DRY RUN (nothing written): ' if self.dry_run else ''}{self.files} file(s): {self.new_files} new, "
                 f"{self.replaced} replaced, {self.unchanged} unchanged, {len(self.failed)} failed, "
                 f"{len(self.skipped)} skipped, {len(self.pruned)} {would}pruned; {self.added} chunk(s) added, "
                 f"{self.removed + self.pruned_chunks} {would}removed in {self.seconds:.1f}s"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        lines += [f"  SKIPPED {path}: {reason}" for path, reason in self.skipped]
        lines += [f"  {'WOULD PRUNE' if self.dry_run else 'PRUNED'} {path}: {reason}" for path, reason in self.pruned]
        lines += [f"  DECODED {path} as {FALLBACK_ENCODING} (not UTF-8; convert it to UTF-8 if that is wrong)"
                  for path in self.fallback_decoded]
        return "\n".join(lines)


def default_splitter(embedder: Any) -> RecursiveSplitter:
    """200-token chunks with 20 tokens of overlap in the embedder's tokens (characters when it cannot count)."""
    if hasattr(embedder, "count_tokens"):
        return TokenSplitter(embedder, chunk_size=200, chunk_overlap=20)
    return RecursiveSplitter(chunk_size=1000, chunk_overlap=100)


def _signature(splitter: RecursiveSplitter) -> str:
    return f"{type(splitter).__name__}:{splitter.chunk_size}:{splitter.chunk_overlap}"


@dataclass
class _Pending:
    source: str
    file_hash: str
    chunks: list[Document]


class _Ingestor:
    def __init__(self, store: Any, splitter: RecursiveSplitter, batch_size: int, report: IngestReport, bar: Any):
        self.store, self.splitter, self.batch_size = store, splitter, batch_size
        self.report, self.bar = report, bar
        self.pending: list[_Pending] = []

    def add(self, item: _Pending) -> None:
        self.pending.append(item)
        if sum(len(p.chunks) for p in self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the pending files' chunks, delete their stale chunks, then mark them done (in that order)."""
        if not self.pending:
            return
        chunks = [c for p in self.pending for c in p.chunks]
        embedder = self.store.embedder
        before = getattr(embedder, "embedded", None)
        existing: set[str] = set()
        for i in range(0, len(chunks), 5000):
            existing |= self.store.existing([c.id for c in chunks[i : i + 5000]])
        for i in range(0, len(chunks), self.batch_size):
            part = chunks[i : i + self.batch_size]
            vecs = embedder.embed_documents([c.text for c in part])
            self.store.upsert(part, embeddings=vecs)
            if self.bar is not None:
                self.bar.set_postfix(chunks=self.report.chunks + i + len(part), refresh=False)
        if before is not None:
            self.report.embedded += embedder.embedded - before
        self.report.chunks += len(chunks)
        self.report.added += sum(1 for c in chunks if c.id not in existing)
        for p in self.pending:  # also for "new" files: a killed earlier run may have left an older version
            keep = {c.id for c in p.chunks}
            stale = [i for i in self.store.ids(where={"source": p.source}) if i not in keep]
            if stale:
                self.report.removed += self.store.delete(ids=stale)
        mark_files(self.store, [{"source": p.source, "file_hash": p.file_hash, "chunks": len(p.chunks),
                                "splitter": _signature(self.splitter), "ingested_at": time.time()}
                               for p in self.pending])
        self.pending = []


def _under(source: str, roots: Sequence[Path]) -> bool:
    path = Path(source)
    return any(path == r or r in path.parents for r in roots)


def _prune(store: Store, records: dict[str, dict[str, Any]], roots: Sequence[Path], no_text: dict[str, str],
           report: IngestReport) -> None:
    """Remove the chunks (then the record) of every recorded file under ``roots`` that is gone or has no text."""
    for source in sorted(records):
        if not _under(source, roots):
            continue
        if source in no_text:
            reason = f"no longer yields text ({no_text[source]})"
        elif not Path(source).is_file():
            reason = "the file is gone"
        else:
            continue
        ids = store.ids(where={"source": source})
        report.pruned.append((source, reason))
        if report.dry_run:
            report.pruned_chunks += len(ids)
            continue
        if ids:
            report.pruned_chunks += store.delete(ids=ids)
        unmark_files(store, [source])  # after its chunks: a killed run prunes the rest next time


def ingest(paths: str | Path | Iterable[str | Path], store: Store, *, glob: str | Sequence[str] | None = None,
           ignore: Sequence[str] = DEFAULT_IGNORE, splitter: RecursiveSplitter | None = None,
           max_bytes: int = DEFAULT_MAX_BYTES, batch_size: int = 256, progress: bool = True,
           on_file: Callable[[Path], None] | None = None, prune: bool = False,
           dry_run: bool = False) -> IngestReport:
    """Ingest files and folders into ``store``; return an :class:`IngestReport`.

    ``glob``/``ignore``: which files of a folder to take (see :func:`~augment.retrieval.documents.scan_files`).
    ``splitter``: default :func:`default_splitter` of the store's embedder. ``max_bytes``: larger files
    fail. ``batch_size``: chunks per write (a killed run redoes at most the unfinished batch).
    ``on_file(path)`` is called before each file is read. ``prune``: also remove the chunks of files
    under ``paths`` that were ingested before and are now gone or yield no text (a file that is
    merely left out by ``glob``/``ignore`` stays). ``dry_run``: read and hash the files but write
    nothing; the report says what would be new, replaced and pruned.
    """
    start = time.perf_counter()
    report = IngestReport(dry_run=dry_run)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    roots = [Path(p).expanduser().absolute() for p in paths]
    files: list[Path] = []
    for p in roots:
        try:
            found, skipped = scan_files(p, glob, ignore)
        except DocumentLoadError as e:
            report.failed.append((str(p), str(e).split(": ", 1)[-1]))
            continue
        files.extend(f for f in found if f not in files)
        report.skipped.extend(s for s in skipped if s not in report.skipped)
    report.files = len(files) + len(report.failed)
    embedder = store.embedder  # loads the model and checks it matches the collection before any work
    splitter = splitter or default_splitter(embedder)
    signature = _signature(splitter)
    records = file_records(store)
    no_text: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), unit="file", desc=f"ingest {store.name}", file=sys.stderr, mininterval=0.2)
    worker = _Ingestor(store, splitter, max(1, batch_size), report, bar)
    try:
        for path in files:
            if on_file is not None:
                on_file(path)
            source = str(path)
            try:
                check_supported(path)
                data = read_file_bytes(path, max_bytes)
                file_hash = hashlib.sha256(data).hexdigest()
                old = records.get(source)
                if old and old.get("file_hash") == file_hash and old.get("splitter") == signature:
                    report.unchanged += 1
                else:
                    docs = load_file(path, max_bytes, data=data)
                    if any(d.metadata.get("encoding") == FALLBACK_ENCODING for d in docs):
                        report.fallback_decoded.append(source)
                    report.replaced += bool(old)
                    report.new_files += not old
                    if not dry_run:
                        chunks = split_documents(docs, splitter)
                        for c in chunks:
                            c.metadata["file_hash"] = file_hash
                        worker.add(_Pending(source, file_hash, chunks))
            except DocumentLoadError as e:
                reason = str(e).split(": ", 1)[-1] if str(e).startswith(source) else str(e)
                if prune and isinstance(e, NoTextError) and source in records:
                    no_text[source] = reason  # reported as pruned, not as failed
                else:
                    report.failed.append((source, reason))
            if bar is not None:
                bar.update(1)
        worker.flush()
    finally:
        if bar is not None:
            bar.close()
    if prune:
        _prune(store, records, roots, no_text, report)
    report.seconds = time.perf_counter() - start
    return report
