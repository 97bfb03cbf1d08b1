"""Ingestion: reports, idempotent re-runs, replaced files, and bad files listed while the rest go in."""

from __future__ import annotations

import pytest

from augment.errors import EmbeddingMismatchError
from augment.retrieval.documents import RecursiveSplitter
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.ingestion import file_records, ingest
from augment.retrieval.store import ChromaStore

from .conftest import make_corpus


@pytest.fixture()
def corpus(tmp_path):
    return make_corpus(tmp_path / "docs")


@pytest.fixture()
def store(tmp_path):
    return ChromaStore("docs", path=tmp_path / "db", embedder=FakeEmbedder(cache_dir=tmp_path / "cache"))


def test_bad_files_are_listed_and_the_rest_ingested(corpus, store):
    report = ingest([corpus], store, progress=False)
    failed = {name.rsplit("/", 1)[-1]: why for name, why in report.failed}
    assert set(failed) == {"empty.txt", "binary.txt", "scan.pdf"}
    assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"] and "OCR" in failed["scan.pdf"]
    assert report.files == 9 and report.new_files == 6 and report.unchanged == 0
    assert report.added == store.count() == report.chunks == 7  # jsonl has 2 records
    sources = {d.metadata["filename"] for d in store.iter_documents()}
    assert sources == {"guide.md", "plain.txt", "page.html", "records.jsonl", "paper.pdf", "latin1.txt"}
    assert "Crème brûlée" in store.query("crème brûlée café", k=1)[0].text
    assert "FAILED" in report.summary() and "6 new" in report.summary()


def test_reingest_unchanged_embeds_nothing(corpus, store):
    ingest([corpus], store, progress=False)
    calls, ids = store.embedder.calls, sorted(store.ids())
    again = ingest([corpus], store, progress=False)
    assert (again.unchanged, again.added, again.chunks, again.new_files) == (6, 0, 0, 0)
    assert store.embedder.calls == calls and sorted(store.ids()) == ids


def test_changed_file_replaces_its_old_chunks(corpus, store):
    splitter = RecursiveSplitter(chunk_size=60, chunk_overlap=0)
    ingest([corpus / "guide.md"], store, splitter=splitter, progress=False)
    before = {d.text for d in store.iter_documents()}
    (corpus / "guide.md").write_text("# Install guide\n\nRun pip install augment.\n\n## New part\n\nEverything else changed.\n")
    report = ingest([corpus / "guide.md"], store, splitter=splitter, progress=False)
    after = {d.text for d in store.iter_documents()}
    assert report.replaced == 1 and report.removed >= 1 and report.added >= 1
    assert "# Install guide\n\nRun pip install augment." in before & after  # the unchanged chunk is kept
    assert not any("Call ingest" in t for t in after) and any("Everything else changed." in t for t in after)
    assert store.embedder.embedded == len(before) + report.added  # kept chunks came from the cache
    # a changed splitter re-splits an unchanged file
    assert ingest([corpus / "guide.md"], store, splitter=RecursiveSplitter(500, 0), progress=False).replaced == 1


def test_file_disappearing_mid_ingest_and_too_large(corpus, store, tmp_path):
    big = corpus / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)

    def vanish(path):
        if path.name == "plain.txt":
            (corpus / "sub" / "page.html").unlink()  # listed already, gone before it is read

    report = ingest([corpus], store, progress=False, on_file=vanish, max_bytes=10 * 1024 * 1024)
    failed = {name.rsplit("/", 1)[-1]: why for name, why in report.failed}
    assert "disappeared" in failed["page.html"] and "50.0 MiB is over the 10.0 MiB limit" in failed["huge.txt"]
    assert report.new_files == 5 and store.count() == 6
    missing = ingest([tmp_path / "nope", corpus / "plain.txt"], store, progress=False)
    assert "no such file" in missing.failed[0][1] and missing.unchanged == 1


def test_file_that_turns_bad_keeps_its_old_chunks(corpus, store):
    ingest([corpus / "plain.txt"], store, progress=False)
    (corpus / "plain.txt").write_text("")
    report = ingest([corpus / "plain.txt"], store, progress=False)
    assert report.failed and store.count() == 1  # nothing already stored is lost


def test_other_embedder_is_refused_before_any_work(corpus, store, tmp_path):
    ingest([corpus / "plain.txt"], store, progress=False)
    other = ChromaStore("docs", path=tmp_path / "db2", embedder=FakeEmbedder(dimension=8))
    ingest([corpus / "plain.txt"], other, progress=False)
    with pytest.raises(EmbeddingMismatchError):
        ChromaStore("docs", path=tmp_path / "db", embedder=FakeEmbedder(dimension=8))


def test_small_batches_write_in_order(corpus, store):
    report = ingest([corpus], store, progress=False, batch_size=1)
    assert report.added == store.count() == 7 and len(file_records(store)) == 6


def test_leftovers_of_a_killed_run_are_cleaned_when_the_file_changed(corpus, store):
    from augment.retrieval.documents import load_file, split_documents
    from augment.retrieval.ingestion import default_splitter

    path = corpus / "plain.txt"
    # what a run killed after writing the chunks but before marking the file done leaves behind
    store.upsert(split_documents(load_file(path), default_splitter(store.embedder)))
    assert store.count() == 1 and file_records(store) == {}
    path.write_text("A completely different sentence now.")
    report = ingest([path], store, progress=False)
    assert report.removed == 1 and [d.text for d in store.iter_documents()] == [path.read_text()]
