"""tools/eval_retrieval.py: metrics equal pytrec_eval's, and the script runs end to end on tests/data/beir_small."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import eval_retrieval as ev  # noqa: E402


def test_metrics_match_pytrec_eval_with_graded_qrels_and_ties():
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pip install pytrec-eval-terrier")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{q}": {d: rng.choice([0, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 15))} for q in range(30)}
    run = {q: {d: round(rng.random(), 1) for d in rng.sample(docs, rng.randint(5, 30))} for q in qrels}  # many ties
    want = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"}).evaluate(run)
    ndcg, recall = ev.ndcg_at_k(run, qrels), ev.recall_at_k(run, qrels)
    for q in qrels:
        assert ndcg[q] == pytest.approx(want[q]["ndcg_cut_10"], abs=1e-9), q
        assert recall[q] == pytest.approx(want[q]["recall_10"], abs=1e-9), q


def test_hand_computed_ndcg_and_identical_id_rule():
    qrels = {"q": {"a": 2, "b": 1}}
    run = {"q": {"q": 9.0, "b": 0.9, "x": 0.5, "a": 0.1}}  # the query's own id is ignored, as in BEIR
    dcg = 1 / 1 + 2 / 2  # b at rank 1 (log2 2 = 1), a at rank 3 (log2 4 = 2)
    idcg = 2 / 1 + 1 / 1.5849625007211563
    assert ev.ndcg_at_k(run, qrels)["q"] == pytest.approx(dcg / idcg)
    assert ev.recall_at_k({"q": {"x": 1.0, "a": 0.5}}, qrels, k=1)["q"] == 0.0
    assert ev.recall_at_k(run, qrels)["q"] == 1.0


def test_script_on_beir_small(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "eval_retrieval.py"), str(ROOT / "tests/data/beir_small"),
                           "--db", str(tmp_path / "db")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("dense_ndcg10", "dense_recall10", "bm25_ndcg10", "bm25_recall10", "hybrid_ndcg10", "hybrid_recall10",
                "ingest_s"):
        assert key in result
    for key in ("dense", "bm25", "hybrid"):
        assert 0.5 < result[f"{key}_ndcg10"] <= 1.0 and 0.5 < result[f"{key}_recall10"] <= 1.0
    assert result["ingest_s"] > 0 and result["documents"] == 61 and result["queries"] == 22
    assert result["dense_exact_ndcg10"] == pytest.approx(result["dense_ndcg10"], abs=0.02)
    assert "nDCG@10" in proc.stdout and "hybrid / dense" in proc.stdout


def test_missing_files_are_named(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "eval_retrieval.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "corpus.jsonl is missing" in proc.stderr
