"""Ingestion and queries through HttpClient against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from augment.errors import EmbeddingMismatchError, ServerUnreachableError
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.ingestion import ingest
from augment.retrieval.store import ChromaStore, describe_store

from .conftest import make_corpus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chroma_binary() -> str:
    here = Path(sys.executable).parent / "chroma"
    found = str(here) if here.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` binary (from the chromadb package) is not installed next to python")
    return found


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """Start `chroma run` on a free port, wait for its heartbeat, stop it afterwards."""
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen([_chroma_binary(), "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited early: {(data / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_ingest_and_query_through_the_server(chroma_url, tmp_path, default_embedder):
    corpus = make_corpus(tmp_path / "docs")
    store = ChromaStore("served", url=chroma_url, embedder=default_embedder)
    report = ingest([corpus], store, progress=False)
    assert report.new_files == 6 and len(report.failed) == 3 and store.count() == report.added == 7
    hit = store.query("What is the largest animal?", k=1)[0]
    assert hit.metadata["filename"] == "page.html" and "blue whale" in hit.text
    assert len(store.query("planets", k=50)) == 7  # k above the count
    assert [h.metadata["record_id"] for h in store.query("planets", k=5, where={"file_type": "jsonl"})] in (
        ["d1", "d2"], ["d2", "d1"])
    again = ingest([corpus], store, progress=False)
    assert again.unchanged == 6 and again.added == 0 and store.count() == 7
    # a second client sees the same data; listings hide augment's bookkeeping
    other = ChromaStore("served", url=chroma_url, embedder=default_embedder, create=False)
    assert other.count() == 7 and other.stats()["files"] == 6
    assert {"name": "served", "count": 7, "embedder": default_embedder.model_id, "dimension": 384} in \
        describe_store(url=chroma_url)
    assert other.delete(where={"file_type": "pdf"}) == 1 and store.count() == 6


def test_server_refuses_another_model(chroma_url, default_embedder):
    ChromaStore("served-fake", url=chroma_url, embedder=FakeEmbedder()).upsert(["hello there"])
    with pytest.raises(EmbeddingMismatchError, match="new collection name"):
        ChromaStore("served-fake", url=chroma_url, embedder=default_embedder)


def test_stopped_server_is_reported_clearly():
    port = _free_port()  # nothing listens here
    with pytest.raises(ServerUnreachableError, match=f"chroma run --path DIR --port {port}"):
        ChromaStore("docs", url=f"http://127.0.0.1:{port}")
