"""Remote embeddings: Embedder("openai:MODEL", base_url=...) against real servers on 127.0.0.1 (augment serve
with the real default embedder; a small flaky server for the retry logic)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from augment.errors import APIError, ConfigError, ServerUnreachableError
from augment.llm.fake import FakeLLM
from augment.retrieval.embeddings import Embedder, FakeEmbedder
from augment.retrieval.remote_embeddings import RemoteEmbedder

ROOT = Path(__file__).resolve().parents[2]


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``fail`` requests, then FakeEmbedder vectors; records each batch size."""

    fail = 0
    sizes: list[int] = []
    status = 503

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.fail > 0:
            cls.fail -= 1
            self._reply(cls.status, {"error": {"message": "busy"}})
            return
        cls.sizes.append(len(body["input"]))
        vecs = FakeEmbedder(dimension=8).embed_documents(body["input"])
        self._reply(200, {"data": [{"index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)][::-1]})

    def _reply(self, status: int, data: dict) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky():
    _Flaky.fail, _Flaky.sizes, _Flaky.status = 0, [], 503
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_embedder_spec_dispatches_to_the_remote_embedder(flaky):
    emb = Embedder("openai:fake", base_url=flaky, cache=False)
    assert isinstance(emb, RemoteEmbedder) and emb.dimension == 8


def test_batches_retries_and_order(flaky):
    _Flaky.fail = 2
    emb = RemoteEmbedder("fake", base_url=flaky, batch_size=2, backoff=0.01, cache=False, dimension=8)
    texts = [f"text number {i}" for i in range(5)]
    got = emb.embed_documents(texts)
    assert _Flaky.sizes == [2, 2, 1] and emb.requests == 3  # 5 texts in batches of 2, after 2 retried 503s
    assert np.allclose(got, FakeEmbedder(dimension=8).embed_documents(texts), atol=1e-6)  # reordered by index


def test_errors_are_clear(flaky, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="base_url"):
        Embedder("openai:x")
    _Flaky.fail, _Flaky.status = 1, 400
    with pytest.raises(APIError, match="refused the request") as e:
        RemoteEmbedder("x", base_url=flaky, cache=False, dimension=8).embed_documents(["a"])
    assert e.value.status_code == 400
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(ServerUnreachableError, match="cannot reach"):
        RemoteEmbedder("x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.01, cache=False,
                       dimension=8).embed_documents(["a"])


@pytest.mark.real_model
def test_ingest_through_augment_serve_embeddings(default_embedder, tmp_path):
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.store import ChromaStore
    from augment.serve import make_server

    with make_server(FakeLLM(), port=0, embedder=default_embedder) as server:
        remote = Embedder("openai:all-MiniLM-L6-v2", base_url=server.url, batch_size=4, timeout=900, max_retries=0,
                          cache_dir=tmp_path / "cache")
        texts = ["The Eiffel Tower is in Paris.", "Bees make honey."]
        assert np.allclose(remote.embed_documents(texts), default_embedder.embed_documents(texts), atol=1e-5)
        store = ChromaStore("remote", path=tmp_path / "db", embedder=remote)
        report = ingest([ROOT / "examples" / "docs"], store, glob=["eiffel_tower.md", "honey_bees.md"], progress=False)
        assert report.added > 0 and remote.requests > 1
        hits = store.query("How tall is the Eiffel Tower?", k=1)
    assert "eiffel" in hits[0].metadata["source"].lower()
