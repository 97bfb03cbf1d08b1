"""Ingest prunes deleted and emptied files, reports what it skips, refuses special files, never guesses encodings.

Every test uses a real persistent Chroma in a tmp folder (the embedder is the fake: pruning does
not depend on the vectors).
"""

from __future__ import annotations

import os
import threading

import pytest

from augment.errors import DocumentLoadError, NoTextError
from augment.retrieval.documents import RecursiveSplitter, load_file, read_text, scan_files
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.ingestion import file_records, ingest
from augment.retrieval.store import ChromaStore

SPLIT = RecursiveSplitter(chunk_size=80, chunk_overlap=0)


def open_store(tmp_path):
    return ChromaStore("docs", path=tmp_path / "db", embedder=FakeEmbedder(cache_dir=tmp_path / "cache"))


def sources(store):
    return {d.metadata["source"] for d in store.iter_documents()}


@pytest.fixture()
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):  # two chunks each
        (docs / f"note{i:02d}.md").write_text(f"# Note {i}\n\nThe first paragraph of note {i} is here.\n\n"
                                              f"A second paragraph of note {i}, long enough for its own chunk.\n")
    return docs


def test_prune_removes_the_chunks_of_deleted_and_emptied_files(folder, tmp_path):
    store = open_store(tmp_path)
    first = ingest([folder], store, splitter=SPLIT, progress=False)
    assert first.new_files == 12 and store.count() == 24
    gone = [folder / "note00.md", folder / "note01.md", folder / "note02.md"]
    for f in gone:
        f.unlink()
    (folder / "note03.md").write_text("")                      # became empty
    (folder / "note04.md").write_bytes(b"\x00\x01binary" * 50)  # became binary
    dead = {str(f) for f in gone} | {str(folder / "note03.md"), str(folder / "note04.md")}

    # without prune the chunks of deleted files stay (and keep being served): the old behaviour
    plain = ingest([folder], store, splitter=SPLIT, progress=False)
    assert plain.pruned == [] and store.count() == 24 and dead <= sources(store)

    # a dry run lists what would go and writes nothing
    dry = ingest([folder], store, splitter=SPLIT, progress=False, prune=True, dry_run=True)
    assert {s for s, _ in dry.pruned} == dead and dry.pruned_chunks == 10
    assert store.count() == 24 and dead <= set(file_records(store))
    assert "DRY RUN" in dry.summary() and "WOULD PRUNE" in dry.summary()

    report = ingest([folder], store, splitter=SPLIT, progress=False, prune=True)
    reasons = dict(report.pruned)
    assert set(reasons) == dead and report.pruned_chunks == 10
    assert reasons[str(folder / "note00.md")] == "the file is gone"
    assert "no longer yields text" in reasons[str(folder / "note03.md")] and "empty" in reasons[str(folder / "note03.md")]
    assert "binary" in reasons[str(folder / "note04.md")]
    assert report.failed == [] and "PRUNED" in report.summary() and "5 pruned" in report.summary()
    # a new process sees the same collection: 7 files, 14 chunks, no trace of the pruned ones
    again = open_store(tmp_path)
    assert again.count() == 14 and not dead & sources(again) and not dead & set(file_records(again))
    assert ingest([folder], again, splitter=SPLIT, progress=False, prune=True).pruned == []


def test_prune_touches_only_files_under_the_given_paths(folder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("Kept: another folder's file.")
    (folder / "extra.txt").write_text("A text file that the next run's glob leaves out.")
    store = open_store(tmp_path)
    ingest([folder, other], store, splitter=SPLIT, progress=False)
    (other / "keep.txt").unlink()  # deleted, but not under the paths of the next run
    (folder / "note06.md").unlink()
    report = ingest([folder], store, glob="*.md", splitter=SPLIT, progress=False, prune=True)
    assert [s for s, _ in report.pruned] == [str(folder / "note06.md")]
    assert str(other / "keep.txt") in sources(store) and str(folder / "extra.txt") in sources(store)


def test_non_utf8_is_read_with_the_stated_fallback_or_refused(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cafe.txt").write_bytes("Café crème, déjà vu.".encode("latin-1"))
    (docs / "sjis.txt").write_bytes("日本語のテキストです。".encode("shift_jis"))
    assert read_text("x.txt", data="Café".encode("latin-1")) == ("Café", "cp1252")   # never "Cafķ" (cp775)
    assert read_text("x.txt", data="Café".encode("utf-8")) == ("Café", "utf-8")
    with pytest.raises(NoTextError, match="not UTF-8"):
        load_file(docs / "sjis.txt")
    store = open_store(tmp_path)
    report = ingest([docs], store, progress=False)
    assert report.fallback_decoded == [str(docs / "cafe.txt")] and "DECODED" in report.summary()
    assert [d.text for d in store.iter_documents()] == ["Café crème, déjà vu."]
    assert [(p, "not UTF-8" in why) for p, why in report.failed] == [(str(docs / "sjis.txt"), True)]


def test_symlinks_that_cannot_be_read_are_reported(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "real.md").write_text("# Real\n\nA file reached through a symlink.")
    (docs / "link.md").symlink_to(tmp_path / "real.md")            # a good link: read
    (docs / "dangling.md").symlink_to(tmp_path / "missing.md")     # its target does not exist
    (docs / "loop.md").symlink_to(docs / "loop.md")                # points at itself
    files, skipped = scan_files(docs)
    assert files == [docs / "link.md"]
    reasons = dict(skipped)
    assert "dangling symlink" in reasons[str(docs / "dangling.md")] and "missing.md" in reasons[str(docs / "dangling.md")]
    assert reasons[str(docs / "loop.md")] == "symlink loop"
    store = open_store(tmp_path)
    report = ingest([docs], store, progress=False)
    assert report.new_files == 1 and dict(report.skipped) == reasons and "SKIPPED" in report.summary()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_files_are_refused_without_blocking(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# Ok\n\nA normal file.")
    os.mkfifo(docs / "pipe.md")
    store = open_store(tmp_path)
    done: list = []
    worker = threading.Thread(target=lambda: done.append((ingest([docs], store, progress=False),
                                                          ingest([docs / "pipe.md"], store, progress=False))),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done, "ingest blocked on a FIFO"
    in_folder, by_name = done[0]
    assert in_folder.new_files == 1 and in_folder.skipped == [(str(docs / "pipe.md"), "a FIFO (named pipe), not a regular file")]
    assert by_name.failed == [(str(docs / "pipe.md"), "is a FIFO (named pipe), not a regular file; only regular files are read.")]
    with pytest.raises(DocumentLoadError, match="FIFO"):
        load_file(docs / "pipe.md")


def test_sizes_are_in_one_unit(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * (3 * 1024 * 1024))
    with pytest.raises(DocumentLoadError, match=r"3\.0 MiB is over the 1\.0 MiB limit.*in MiB"):
        load_file(big, max_bytes=1024 * 1024)
