"""Loaders and splitters on real files of every supported type, including the bad ones."""

from __future__ import annotations

import pytest

from augment.errors import ConfigError, DocumentLoadError
from augment.retrieval.documents import (
    RecursiveSplitter,
    TokenSplitter,
    iter_files,
    load_file,
    load_path,
    read_text,
    split_documents,
)
from augment.retrieval.embeddings import FakeEmbedder
from augment.types import Document

from .conftest import make_corpus, make_pdf


@pytest.fixture()
def corpus(tmp_path):
    return make_corpus(tmp_path / "docs")


def test_loaders_keep_text_title_and_position(corpus):
    md = load_file(corpus / "guide.md")[0]
    assert md.metadata["title"] == "Install guide" and md.metadata["file_type"] == "md"
    assert md.metadata["source"] == str(corpus / "guide.md") and "Call ingest" in md.text
    html = load_file(corpus / "sub" / "page.html")[0]
    assert html.metadata["title"] == "Whales" and "largest animal" in html.text
    assert "hidden" not in html.text and "Whales" not in html.text  # script and <title> are not body text
    pdf = load_file(corpus / "paper.pdf")
    assert [d.metadata["page"] for d in pdf] == [1] and "Photosynthesis" in pdf[0].text
    rows = load_file(corpus / "records.jsonl")
    assert [(d.text, d.metadata["record_id"], d.metadata["line"]) for d in rows] == [
        ("Mars Mars is the red planet.", "d1", 1), ("Venus Venus is very hot.", "d2", 2)]


def test_non_utf8_text_is_decoded_with_a_fallback(corpus):
    doc = load_file(corpus / "latin1.txt")[0]
    assert doc.text == "Crème brûlée, café et déjà vu à Noël."
    assert doc.metadata["encoding"] != "utf-8"


@pytest.mark.parametrize("name, reason", [
    ("empty.txt", "empty"), ("binary.txt", "binary"), ("scan.pdf", "no text layer"),
])
def test_bad_files_raise_clear_errors(corpus, name, reason):
    with pytest.raises(DocumentLoadError, match=reason) as info:
        load_file(corpus / name)
    assert name in str(info.value)


def test_size_limit_missing_file_and_unsupported_type(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)  # a 50 MB file
    with pytest.raises(DocumentLoadError, match="over the 1.0 MiB limit"):
        load_file(big, max_bytes=1_000_000)
    with pytest.raises(DocumentLoadError, match="disappeared"):
        load_file(tmp_path / "gone.txt")
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(DocumentLoadError, match="unsupported file type '.docx'"):
        load_file(tmp_path / "x.docx")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(DocumentLoadError, match=r"bad.jsonl:2: not valid JSON"):
        load_file(tmp_path / "bad.jsonl")
    with pytest.raises(DocumentLoadError, match="no 'text'"):
        (tmp_path / "notext.jsonl").write_text('{"body": "x"}\n')
        load_file(tmp_path / "notext.jsonl")


def test_undecodable_bytes_fail_clearly(tmp_path):
    data = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0x01, 0x02, 0x03] * 50)
    with pytest.raises(DocumentLoadError, match="not UTF-8"):
        read_text(tmp_path / "weird.txt", data=data)


def test_folders_glob_and_ignore(corpus):
    (corpus / ".git").mkdir()
    (corpus / ".git" / "HEAD.txt").write_text("ref")
    (corpus / "notes.docx").write_text("not supported")
    names = [p.name for p in iter_files(corpus)]
    assert "HEAD.txt" not in names and "notes.docx" not in names and "page.html" in names
    assert [p.name for p in iter_files(corpus, glob="**/*.md")] == ["guide.md"]
    assert "page.html" not in [p.name for p in iter_files(corpus, ignore=("sub",))]
    with pytest.raises(DocumentLoadError, match="no such file or folder"):
        iter_files(corpus / "nope")
    docs = load_path(corpus, glob=["*.md", "*.jsonl"])
    assert len(docs) == 3


def test_recursive_splitter_follows_structure_and_size():
    body = " ".join(f"Sentence {i} is here." for i in range(30))
    text = "# One\n\n" + body + "\n\n# Two\n\nShort paragraph.\n"
    chunks = RecursiveSplitter(chunk_size=120, chunk_overlap=30).split(text)
    assert all(len(c) <= 120 for c in chunks)
    assert chunks[-1] == "# Two\n\nShort paragraph."  # a heading starts a chunk
    assert chunks[0].startswith("# One\n") and "Sentence 0 is here." in chunks[0]  # heading kept with its text
    assert all(c.endswith(".") for c in chunks)  # sentences are not cut
    last_of_first = chunks[1].split(". ")[0]
    assert last_of_first in chunks[0]  # overlap: the next chunk repeats the last sentence
    with pytest.raises(ConfigError):
        RecursiveSplitter(chunk_size=10, chunk_overlap=10)


def test_token_splitter_counts_the_embedders_tokens(default_embedder):
    text = " ".join(f"Sentence number {i} talks about retrieval augmented generation." for i in range(60))
    chunks = TokenSplitter(default_embedder, chunk_size=64, chunk_overlap=8).split(text)
    counts = [default_embedder.count_tokens(c) for c in chunks]
    assert len(chunks) > 5 and max(counts) <= 64 and min(counts) > 20


def test_split_documents_ids_are_stable_and_positions_kept(corpus):
    docs = load_file(corpus / "guide.md")
    splitter = RecursiveSplitter(chunk_size=40, chunk_overlap=0)
    a, b = split_documents(docs, splitter), split_documents(load_file(corpus / "guide.md"), splitter)
    assert [c.id for c in a] == [c.id for c in b] and len({c.id for c in a}) == len(a)
    assert [c.metadata["chunk"] for c in a] == list(range(len(a)))
    usage = next(c for c in a if "Call ingest" in c.text)
    assert usage.metadata["section"] == "Usage" and docs[0].text[usage.metadata["start_char"]:].startswith("Call")
    # the same text twice in one file still gets two ids; another file gets other ids
    twice = split_documents([Document("same\n\nsame", {"source": "x"})], RecursiveSplitter(4, 0))
    other = split_documents([Document("same", {"source": "y"})], RecursiveSplitter(4, 0))
    assert len({c.id for c in twice + other}) == 3


def test_token_splitter_needs_a_counter():
    with pytest.raises(ConfigError, match="count_tokens"):
        TokenSplitter(object())
    assert TokenSplitter(FakeEmbedder(), chunk_size=2, chunk_overlap=0).split("a b c") == ["a b", "c"]


def test_pdf_helper_multi_page_title(tmp_path):
    pdf = load_file(make_pdf(tmp_path / "t.pdf", "Hello PDF"))
    assert pdf[0].metadata["title"] == "t" and pdf[0].text == "Hello PDF"
