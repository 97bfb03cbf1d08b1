"""Retrievers: RRF, MMR, BM25 (and its persistence across a restart), dense threshold, cross-encoder rerank."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from augment.errors import ConfigError, ModelNotFoundError
from augment.retrieval.bm25 import BM25Retriever
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.retriever import (DenseRetriever, HybridRetriever, ListRetriever, MMRRetriever, Retriever,
                                         mmr_select, reciprocal_rank_fusion)
from augment.retrieval.store import ChromaStore
from augment.types import Document, ScoredDocument

ROOT = Path(__file__).resolve().parents[2]

DOCS = [
    Document("The Eiffel Tower is 330 metres tall and stands in Paris.", {"source": "paris.md"}, id="eiffel"),
    Document("Honey bees communicate the direction of food with the waggle dance.", {"source": "bees.md"}, id="dance"),
    Document("Bees make honey from nectar and store it in wax cells.", {"source": "bees.md"}, id="honey"),
    Document("The Moon orbits Earth every 27.3 days and causes the tides.", {"source": "moon.md"}, id="moon"),
    Document("Python was created by Guido van Rossum and released in 1991.", {"source": "python.md"}, id="python"),
]


@pytest.fixture
def store(tmp_path):
    s = ChromaStore("docs", path=tmp_path / "db", embedder=FakeEmbedder(dimension=128))
    s.upsert(DOCS)
    return s


def _sd(i: str, score: float = 1.0) -> ScoredDocument:
    return ScoredDocument(Document(f"text {i}", id=i), score)


def test_rrf_scores_follow_the_formula():
    fused = reciprocal_rank_fusion([[_sd("a"), _sd("b"), _sd("c")], [_sd("c"), _sd("a")]], rrf_k=60)
    scores = {h.id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert [h.id for h in fused] == ["a", "c", "b"]
    weighted = reciprocal_rank_fusion([[_sd("a")], [_sd("b")]], rrf_k=0, weights=[1.0, 3.0])
    assert [(h.id, h.score) for h in weighted] == [("b", 3.0), ("a", 1.0)]
    with pytest.raises(ConfigError, match="weights"):
        reciprocal_rank_fusion([[_sd("a")]], weights=[1, 2])


def test_hybrid_fuses_and_gates():
    a = ListRetriever([DOCS[0], DOCS[1]])
    b = ListRetriever([DOCS[1], DOCS[2]])
    assert [h.id for h in HybridRetriever([a, b]).retrieve("q", k=3)] == ["dance", "eiffel", "honey"]
    empty = ListRetriever([])
    assert HybridRetriever([empty, b], gate=0).retrieve("q") == []
    assert [h.id for h in HybridRetriever([empty, b]).retrieve("q", k=1)] == ["dance"]
    with pytest.raises(ConfigError, match="at least one"):
        HybridRetriever([])
    with pytest.raises(ConfigError, match="gate"):
        HybridRetriever([a], gate=3)
    with pytest.raises(ConfigError, match="k must be"):
        a.retrieve("q", k=0)
    with pytest.raises(ConfigError, match="query"):
        a.retrieve("  ")


def test_mmr_select_prefers_diverse_results():
    q = np.array([1.0, 0.0, 0.0])
    d = np.array([[0.9, 0.436, 0.0], [0.9, 0.436, 0.0], [0.8, 0.0, 0.6]], dtype=np.float64)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert mmr_select(q, d, 2, lambda_mult=1.0) == [0, 1]  # pure relevance keeps the duplicate
    assert mmr_select(q, d, 2, lambda_mult=0.5) == [0, 2]  # MMR skips the duplicate
    with pytest.raises(ConfigError):
        mmr_select(q, d, 2, lambda_mult=1.5)


def test_mmr_retriever_drops_near_duplicates(tmp_path):
    s = ChromaStore("dups", path=tmp_path / "db", embedder=FakeEmbedder(dimension=256))
    s.upsert([Document("bees make honey from nectar", id="a"), Document("bees make honey from nectar.", id="b"),
              Document("bees dance to show food", id="c")])
    plain = [h.id for h in DenseRetriever(s).retrieve("bees honey", k=2)]
    diverse = [h.id for h in MMRRetriever(DenseRetriever(s), lambda_mult=0.3).retrieve("bees honey", k=2)]
    assert set(plain) == {"a", "b"}
    assert diverse[1] == "c"


def test_dense_threshold_and_filter(store):
    hits = DenseRetriever(store, k=5).retrieve("waggle dance of honey bees")
    assert hits[0].id == "dance" and hits == sorted(hits, key=lambda h: -h.score)
    cut = DenseRetriever(store, k=5, score_threshold=hits[0].score - 1e-6).retrieve("waggle dance of honey bees")
    assert [h.id for h in cut] == ["dance"]
    only_bees = DenseRetriever(store, k=5, where={"source": "bees.md"}).retrieve("tower")
    assert {h.id for h in only_bees} == {"dance", "honey"}
    assert DenseRetriever(store, score_threshold=0.99).retrieve("zebra crossing") == []


def test_bm25_ranks_lexically_and_skips_zero_scores(store):
    bm25 = BM25Retriever(store)
    hits = bm25.retrieve("who created Python?", k=5)
    assert [h.id for h in hits] == ["python"]
    assert bm25.retrieve("the of and", k=3) == []  # stop words only
    assert [h.id for h in bm25.retrieve("bees", k=5)][:2] in (["dance", "honey"], ["honey", "dance"])


def test_bm25_is_persisted_and_rebuilt_when_the_collection_changes(store, tmp_path):
    first = BM25Retriever(store)
    assert not first.loaded_from_disk
    index_root = tmp_path / "db" / "augment-bm25" / "docs"
    assert len([p for p in index_root.iterdir() if not p.name.startswith(".")]) == 1
    again = BM25Retriever(ChromaStore("docs", path=tmp_path / "db", embedder=FakeEmbedder(dimension=128)))
    assert again.loaded_from_disk
    store.upsert([Document("Tides are caused mostly by the Moon's gravity.", id="tides")])
    assert [h.id for h in again.retrieve("gravity", k=2)] == ["tides"]  # count changed: rebuilt on query
    assert not again.loaded_from_disk
    folders = [p for p in index_root.iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1  # the stale index was removed


def test_bm25_survives_a_process_restart(store, tmp_path):
    BM25Retriever(store)  # builds and saves
    code = textwrap.dedent(f"""
        from augment.retrieval.bm25 import BM25Retriever
        from augment.retrieval.embeddings import FakeEmbedder
        from augment.retrieval.store import ChromaStore
        r = BM25Retriever(ChromaStore("docs", path={str(tmp_path / "db")!r}, embedder=FakeEmbedder(dimension=128)))
        print(r.loaded_from_disk, [h.id for h in r.retrieve("waggle dance", k=1)])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={**__import__("os").environ, "ANONYMIZED_TELEMETRY": "False"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True ['dance']"


def test_bm25_from_documents_and_bad_input():
    bm25 = BM25Retriever.from_documents(DOCS, k=2)
    assert bm25.retrieve("tides moon")[0].id == "moon"
    with pytest.raises(ConfigError, match="store"):
        BM25Retriever()
    with pytest.raises(ConfigError, match="stemmer"):
        BM25Retriever.from_documents(DOCS, stemmer="porter")
    assert BM25Retriever.from_documents([]).retrieve("anything") == []


def test_retriever_base_call_and_async():
    r = ListRetriever(DOCS)
    assert r("q", k=2) == r.retrieve("q", k=2)
    assert [len(x) for x in r.batch(["a", "b"], k=1)] == [1, 1]
    with pytest.raises(NotImplementedError):
        Retriever().retrieve("q")


async def test_async_retrieve():
    r = ListRetriever(DOCS)
    assert [h.id for h in await r.aretrieve("q", k=2)] == ["eiffel", "dance"]
    assert len(await r.abatch(["a", "b", "c"], k=1)) == 3


def _tiny_cross_encoder(folder: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w for d in DOCS for w in d.text.lower().replace(".", " ").split()} | {"bees", "tall", "what"})
    vocab = folder / "vocab.txt"
    folder.mkdir(parents=True)
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    cfg = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=1, initializer_range=0.5)
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(folder)


def test_cross_encoder_rerank_uses_the_model_scores(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from augment.retrieval.rerank import CrossEncoderReranker, RerankRetriever

    folder = tmp_path / "ce"
    _tiny_cross_encoder(folder)
    reranked = RerankRetriever(ListRetriever(DOCS), folder, fetch_k=5).retrieve("what bees dance", k=5)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        enc = tok(["what bees dance"] * len(DOCS), [d.text for d in DOCS], return_tensors="pt", padding=True)
        logits = model(**enc).logits[:, 0]
    # each hit carries the model's own score for its passage (CrossEncoder turns the single logit into a
    # probability with a sigmoid), best first; compared per id, since a random tiny model can tie two passages
    # and machines break ties differently
    expected = {d.id: p for d, p in zip(DOCS, torch.sigmoid(logits).tolist())}
    assert sorted(h.id for h in reranked) == sorted(expected)
    assert [h.score for h in reranked] == pytest.approx([expected[h.id] for h in reranked], abs=1e-5)
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
    assert max(h.score for h in reranked) - min(h.score for h in reranked) > 1e-3
    assert expected[reranked[0].id] == pytest.approx(max(expected.values()), abs=1e-5)
    with pytest.raises(ModelNotFoundError, match="cross-encoder"):
        CrossEncoderReranker(tmp_path / "nowhere")
