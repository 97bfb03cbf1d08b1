"""ChromaStore on a real persistent Chroma (fake embedder for logic, the real one for search quality)."""

from __future__ import annotations

import numpy as np
import pytest

from augment.errors import ConfigError, EmbeddingMismatchError, ServerUnreachableError, StoreError
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.ingestion import file_records, mark_files
from augment.retrieval.store import ChromaStore, describe_store, doc_id
from augment.types import Document

DOCS = [
    Document("Paris is the capital of France.", {"source": "geo.txt", "topic": "geo", "n": 1}),
    Document("Berlin is the capital of Germany.", {"source": "geo.txt", "topic": "geo", "n": 2}),
    Document("Bananas are rich in potassium.", {"source": "food.txt", "topic": "food", "n": 3}),
]


@pytest.fixture()
def store(tmp_path):
    s = ChromaStore("facts", path=tmp_path / "db", embedder=FakeEmbedder())
    s.upsert([Document(d.text, dict(d.metadata)) for d in DOCS])
    return s


def test_upsert_get_query_and_scores(store):
    assert store.count() == 3
    ids = [doc_id(d.text, d.metadata["source"]) for d in DOCS]
    got = store.get([ids[2], "missing", ids[0]])
    assert [d.text for d in got] == [DOCS[2].text, DOCS[0].text] and got[0].metadata["n"] == 3
    assert store.existing([ids[1], "missing"]) == {ids[1]} and sorted(store.ids()) == sorted(ids)
    hits = store.query("capital of France", k=2)
    assert hits[0].text == DOCS[0].text and hits[0].score > hits[1].score
    q = store.embedder.embed_query("capital of France")
    assert hits[0].score == pytest.approx(float(q @ store.get_embeddings([ids[0]])[0]), abs=1e-5)  # cosine
    assert [h.text for h in store.query("capital", k=5, where={"topic": "food"})] == [DOCS[2].text]
    assert store.query("capital", k=5, where={"topic": "geo", "n": 2})[0].metadata["n"] == 2
    assert len(store.query(q, k=10)) == 3  # a vector works too; k above the count is fine


def test_upsert_is_idempotent_and_replaces(store):
    store.upsert([Document(d.text, dict(d.metadata)) for d in DOCS])
    assert store.count() == 3
    store.upsert([Document("Paris is in Europe.", {"v": 2}, id="p")])
    store.upsert([Document("Paris is big.", {"v": 3}, id="p")])
    assert store.count() == 4 and store.get("p")[0].text == "Paris is big."
    with pytest.raises(StoreError, match="already exist"):
        store.add([Document("again", id="p")])
    with pytest.raises(ConfigError, match="Duplicate id"):
        store.upsert([Document("a", id="x"), Document("b", id="x")])


def test_delete_by_ids_and_where(store):
    assert store.delete(where={"source": "geo.txt"}) == 2
    assert store.delete(ids=["nope"]) == 0
    assert [d.text for d in store.iter_documents()] == [DOCS[2].text]
    with pytest.raises(ConfigError):
        store.delete()


def test_persistence_listing_and_stats(store, tmp_path):
    mark_files(store, [{"source": "geo.txt", "file_hash": "abc"}])
    again = ChromaStore("facts", path=tmp_path / "db", embedder=FakeEmbedder(), create=False)
    assert again.count() == 3 and file_records(again)["geo.txt"]["file_hash"] == "abc"
    ChromaStore("other", path=tmp_path / "db", embedder=FakeEmbedder(dimension=8))
    assert again.list_collections() == ["facts", "other"]  # the ingestion records stay hidden
    rows = {r["name"]: r for r in describe_store(tmp_path / "db")}
    assert rows["facts"] == {"name": "facts", "count": 3, "embedder": "fake-hash-64", "dimension": 64}
    st = again.stats()
    assert (st["count"], st["embedder"], st["dimension"], st["space"], st["files"]) == (3, "fake-hash-64", 64, "cosine", 1)
    assert len(list(again.iter_documents(batch_size=2))) == 3
    again.delete_collection()
    assert again.list_collections() == ["other"]


def test_other_embedding_model_is_refused(store, tmp_path):
    with pytest.raises(EmbeddingMismatchError, match="fake-hash-64.*new collection name"):
        ChromaStore("facts", path=tmp_path / "db", embedder=FakeEmbedder(dimension=64, model_id="other-model"))
    with pytest.raises(EmbeddingMismatchError):
        ChromaStore("facts", path=tmp_path / "db", embedder=FakeEmbedder(dimension=32))
    with pytest.raises(EmbeddingMismatchError, match="pass embedder="):
        ChromaStore("facts", path=tmp_path / "db").query("x")  # the default model would not match either
    assert store.count() == 3  # nothing lost


def test_bad_names_missing_collection_and_unreachable_server(tmp_path):
    with pytest.raises(ConfigError, match="Bad collection name"):
        ChromaStore("a", path=tmp_path)
    with pytest.raises(StoreError, match="does not exist.*augment ingest"):
        ChromaStore("nothing-here", path=tmp_path, create=False)
    with pytest.raises(ServerUnreachableError, match="chroma run --path DIR --port 9"):
        ChromaStore("docs", url="http://127.0.0.1:9")
    with pytest.raises(ConfigError):
        ChromaStore("docs", path=tmp_path, url="http://127.0.0.1:9")


def test_real_embedder_search(default_embedder, tmp_path):
    s = ChromaStore("real", path=tmp_path, embedder=default_embedder)
    s.upsert([Document(d.text, dict(d.metadata)) for d in DOCS])
    hits = s.query("Which fruit has potassium?", k=3)
    assert hits[0].text == DOCS[2].text and 0.3 < hits[0].score <= 1.0
    assert hits[0].score > hits[1].score + 0.2
    assert s.stats()["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    # a store opened without an embedder picks the recorded default model when it needs one
    assert ChromaStore("real", path=tmp_path).model_id == default_embedder.model_id
    assert np.isclose(np.linalg.norm(s.get_embeddings([hits[0].id])[0]), 1.0, atol=1e-3)
