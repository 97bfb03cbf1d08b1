"""Ingestion: files and folders into a :class:`~augment.retrieval.store.ChromaStore`, idempotently.

For each file: hash its bytes; if the store records the same hash (and splitter)
the file is *unchanged* and nothing is read, split or embedded. Otherwise it is
loaded, split, embedded (through the embedding cache) and upserted under
content-hash ids; chunks of an older version of the file are deleted; and only
then is the file marked done. So a run killed at any point and run again leaves
a complete collection with no duplicates. Files that cannot be read are listed
in the report with the reason, and the rest are ingested.

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

from augment.errors import DocumentLoadError
from augment.retrieval.documents import (
    DEFAULT_IGNORE,
    DEFAULT_MAX_BYTES,
    RecursiveSplitter,
    TokenSplitter,
    check_supported,
    iter_files,
    load_file,
    read_file_bytes,
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
    """What one ingestion did. ``failed`` lists ``(path, reason)`` for files that were skipped.

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
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> str:
        """A short human-readable summary, with one line per failed file."""
        lines = [f"{self.files} file(s): {self.new_files} new, {self.replaced} replaced, {self.unchanged} unchanged, "
                 f"{len(self.failed)} failed; {self.added} chunk(s) added, {self.removed} removed "
                 f"in {self.seconds:.1f}s"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
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


def ingest(paths: str | Path | Iterable[str | Path], store: Store, *, glob: str | Sequence[str] | None = None,
           ignore: Sequence[str] = DEFAULT_IGNORE, splitter: RecursiveSplitter | None = None,
           max_bytes: int = DEFAULT_MAX_BYTES, batch_size: int = 256, progress: bool = True,
           on_file: Callable[[Path], None] | None = None) -> IngestReport:
    """Ingest files and folders into ``store``; return an :class:`IngestReport`.

    ``glob``/``ignore``: which files of a folder to take (see :func:`~augment.retrieval.documents.iter_files`).
    ``splitter``: default :func:`default_splitter` of the store's embedder. ``max_bytes``: larger files
    fail. ``batch_size``: chunks per write (a killed run redoes at most the unfinished batch).
    ``on_file(path)`` is called before each file is read.
    """
    start = time.perf_counter()
    report = IngestReport()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        try:
            files.extend(f for f in iter_files(p, glob, ignore) if f not in files)
        except DocumentLoadError as e:
            report.failed.append((str(p), str(e).split(": ", 1)[-1]))
    report.files = len(files) + len(report.failed)
    embedder = store.embedder  # loads the model and checks it matches the collection before any work
    splitter = splitter or default_splitter(embedder)
    signature = _signature(splitter)
    records = file_records(store)
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
                    chunks = split_documents(load_file(path, max_bytes, data=data), splitter)
                    for c in chunks:
                        c.metadata["file_hash"] = file_hash
                    report.replaced += bool(old)
                    report.new_files += not old
                    worker.add(_Pending(source, file_hash, chunks))
            except DocumentLoadError as e:
                report.failed.append((source, str(e).split(": ", 1)[-1] if str(e).startswith(source) else str(e)))
            if bar is not None:
                bar.update(1)
        worker.flush()
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - start
    return report
