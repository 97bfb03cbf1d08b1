"""Evaluate dense, BM25 and hybrid retrieval on a BEIR-format folder.

    python tools/eval_retrieval.py DIR [--split test] [--dtype float32] [--max-queries N]

DIR holds ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl``
({"_id", "text"}) and ``qrels/<split>.tsv`` (query-id, corpus-id, score, with a
header). Documents are embedded as ``title + " " + text`` with the default
all-MiniLM-L6-v2 and upserted into a real persistent Chroma collection (in a
temp folder); BM25 is bm25s over the same collection; hybrid is reciprocal rank
fusion (k=60) of the top 100 of each.

Metrics follow BEIR / pytrec_eval (trec_eval) exactly: nDCG@10 with graded
(linear) gains, a log2(rank + 1) discount and the ideal DCG from the qrels;
Recall@10 = relevant (grade >= 1) in the top 10 / all relevant; the run is
sorted by score, ties broken by doc id descending as trec_eval does; a document
whose id equals the query id is ignored (BEIR's ``ignore_identical_ids``); the
mean is over the judged queries (a query with no result counts 0).
"dense_exact" is brute-force cosine over the same vectors (no HNSW), for
comparison with published numbers.

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# published nDCG@10 of all-MiniLM-L6-v2 (MTEB leaderboard) for the standard BEIR test sets
PUBLISHED_NDCG10 = {"scifact": 0.6451, "nfcorpus": 0.3159, "arguana": 0.5017}

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def _ranked(docs: dict[str, float], qid: str) -> list[str]:
    items = [(d, s) for d, s in docs.items() if d != qid]
    items.sort(key=lambda x: x[0], reverse=True)  # trec_eval: ties by doc id, descending
    items.sort(key=lambda x: x[1], reverse=True)  # stable sort: score descending
    return [d for d, _ in items]


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 10) -> dict[str, float]:
    """Per-query nDCG@k as trec_eval's ndcg_cut.k (linear gain, log2 discount)."""
    out = {}
    for qid, rels in qrels.items():
        ranked = _ranked(run.get(qid, {}), qid)[:k]
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked) if rels.get(d, 0) > 0)
        ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        out[qid] = dcg / idcg if idcg > 0 else 0.0
    return out


def recall_at_k(run: Run, qrels: Qrels, k: int = 10) -> dict[str, float]:
    """Per-query Recall@k as trec_eval's recall.k (relevant = grade >= 1)."""
    out = {}
    for qid, rels in qrels.items():
        relevant = {d for d, g in rels.items() if g >= 1}
        ranked = _ranked(run.get(qid, {}), qid)[:k]
        out[qid] = len(relevant.intersection(ranked)) / len(relevant) if relevant else 0.0
    return out


def mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


def load_beir(folder: Path, split: str = "test") -> tuple[dict[str, dict], dict[str, str], Qrels]:
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).exists():
            raise SystemExit(f"error: {folder / name} is missing; a BEIR folder has corpus.jsonl, queries.jsonl "
                             f"and qrels/{split}.tsv")
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                corpus[str(d["_id"])] = d
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
    qrels: Qrels = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    qrels = {q: r for q, r in qrels.items() if q in queries}
    return corpus, queries, qrels


def run_method(name: str, search: Callable[[str], list], queries: dict[str, str]) -> tuple[Run, float]:
    run: Run = {}
    t0 = time.perf_counter()
    for i, (qid, text) in enumerate(queries.items(), start=1):
        run[qid] = {h.id: h.score for h in search(text)}
        if i % 200 == 0:
            print(f"  {name}: {i}/{len(queries)} queries", file=sys.stderr, flush=True)
    return run, (time.perf_counter() - t0) / max(1, len(queries)) * 1000


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="embedder precision (float32 reproduces published numbers)")
    ap.add_argument("--max-queries", type=int, default=None, help="evaluate only the first N judged queries")
    ap.add_argument("--depth", type=int, default=100, help="candidates per method (hybrid fuses this many of each)")
    ap.add_argument("--db", type=Path, default=None, help="Chroma folder (default: a temp folder)")
    args = ap.parse_args(argv)

    import numpy as np

    from augment.retrieval.bm25 import BM25Retriever
    from augment.retrieval.embeddings import Embedder
    from augment.retrieval.retriever import DenseRetriever, HybridRetriever
    from augment.retrieval.store import ChromaStore
    from augment.types import Document, ScoredDocument

    corpus, queries, qrels = load_beir(args.folder, args.split)
    judged = [q for q in queries if q in qrels][: args.max_queries]
    queries = {q: queries[q] for q in judged}
    qrels = {q: qrels[q] for q in judged}
    print(f"{args.folder.name}: {len(corpus)} documents, {len(queries)} judged queries", flush=True)

    db = args.db or Path(tempfile.mkdtemp(prefix="augment-eval-"))
    embedder = Embedder(dtype=args.dtype, cache=False)
    store = ChromaStore("beir-eval", path=db, embedder=embedder)
    ids = list(corpus)
    docs = [Document((corpus[i].get("title", "") + " " + corpus[i].get("text", "")).strip(),
                     {"title": corpus[i].get("title", "")}, id=i) for i in ids]
    t0 = time.perf_counter()
    vecs = np.zeros((len(docs), embedder.dimension), dtype=np.float32)
    step = 2000
    for s in range(0, len(docs), step):
        vecs[s : s + step] = embedder.embed_documents([d.text for d in docs[s : s + step]])
        store.upsert(docs[s : s + step], embeddings=vecs[s : s + step])
        print(f"  ingest: {min(s + step, len(docs))}/{len(docs)}", file=sys.stderr, flush=True)
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bm25 = BM25Retriever(store, index_dir=db / "bm25")
    bm25_index_s = time.perf_counter() - t0

    dense = DenseRetriever(store)
    hybrid = HybridRetriever([dense, bm25], rrf_k=60, fetch_k=args.depth)
    by_id = dict(zip(ids, docs))

    def exact(text: str) -> list[ScoredDocument]:
        sims = vecs @ embedder.embed_query(text)
        top = np.argsort(-sims)[: args.depth]
        return [ScoredDocument(by_id[ids[j]], float(sims[j])) for j in top]

    methods = {"dense": lambda q: dense.retrieve(q, args.depth), "dense_exact": exact,
               "bm25": lambda q: bm25.retrieve(q, args.depth), "hybrid": lambda q: hybrid.retrieve(q, args.depth)}
    results = {}
    print(f"\n{'method':<12}{'nDCG@10':>9}{'Recall@10':>11}{'ms/query':>10}")
    for name, search in methods.items():
        run, ms = run_method(name, search, queries)
        results[name] = (mean(ndcg_at_k(run, qrels)), mean(recall_at_k(run, qrels)), ms)
        print(f"{name:<12}{results[name][0]:>9.4f}{results[name][1]:>11.4f}{ms:>10.1f}", flush=True)
    hy, de, bm = results["hybrid"][0], results["dense"][0], results["bm25"][0]
    print(f"\nhybrid / dense nDCG@10 = {hy / de if de else float('nan'):.3f}x, "
          f"hybrid / bm25 = {hy / bm if bm else float('nan'):.3f}x")
    print(f"ingest: {len(docs)} documents in {ingest_s:.2f} s ({len(docs) / ingest_s:.0f} docs/s, {args.dtype}); "
          f"BM25 index {bm25_index_s:.2f} s")
    published = PUBLISHED_NDCG10.get(args.folder.name.lower())
    if published is not None:
        print(f"published all-MiniLM-L6-v2 nDCG@10 on {args.folder.name}: {published:.4f}; "
              f"ours (exact) {results['dense_exact'][0]:.4f}, diff {results['dense_exact'][0] - published:+.4f}")
    out = {"dense_ndcg10": round(de, 4), "dense_recall10": round(results["dense"][1], 4),
           "bm25_ndcg10": round(bm, 4), "bm25_recall10": round(results["bm25"][1], 4),
           "hybrid_ndcg10": round(hy, 4), "hybrid_recall10": round(results["hybrid"][1], 4),
           "ingest_s": round(ingest_s, 3), "dense_exact_ndcg10": round(results["dense_exact"][0], 4),
           "query_ms": {k: round(v[2], 2) for k, v in results.items()}, "documents": len(docs),
           "queries": len(queries)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
