"""`augment ingest` and `augment collections` with the real model, and a SIGKILL halfway through."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from augment.cli import main
from augment.retrieval.documents import TokenSplitter, load_file, split_documents
from augment.retrieval.ingestion import file_records
from augment.retrieval.store import ChromaStore


def _helpers():
    """tests/retrieval/conftest.py by path (test folders are not an importable package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_retrieval_helpers",
                                                  Path(__file__).resolve().parents[1] / "retrieval" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = _helpers().make_corpus


def test_ingest_summary_and_collections(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    corpus = make_corpus(tmp_path / "docs")
    db = str(tmp_path / "db")
    runner = CliRunner()
    res = runner.invoke(main, ["ingest", str(corpus), "--collection", "notes", "--db", db,
                               "--ignore", "scan.pdf", "--quiet"])
    assert res.exit_code == 1, res.output  # some files failed: listed, and the exit status says so
    assert "6 new" in res.output and "2 failed" in res.output and "7 chunk(s) added" in res.output
    assert re.search(r"FAILED .*binary\.txt: looks like a binary file", res.output)
    assert re.search(r"FAILED .*empty\.txt: the file is empty", res.output)
    res = runner.invoke(main, ["ingest", str(corpus / "guide.md"), str(corpus / "plain.txt"), "-c", "notes",
                               "--db", db, "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert (report["unchanged"], report["added"], report["embedded"], report["count"]) == (2, 0, 0, 7)
    res = runner.invoke(main, ["collections", "--db", db])
    assert res.exit_code == 0 and re.search(r"notes\s+7\s+sentence-transformers/all-MiniLM-L6-v2 \(384d\)", res.output)
    res = runner.invoke(main, ["collections", "--db", db, "--json"])
    assert json.loads(res.output) == [{"name": "notes", "count": 7, "embedder": "sentence-transformers/all-MiniLM-L6-v2",
                                       "dimension": 384}]


def test_cli_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["ingest", str(tmp_path), "-c", "xyz", "--chroma-url", "http://127.0.0.1:9", "-q"])
    assert res.exit_code == 1 and "chroma run --path DIR --port 9" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["ingest", str(tmp_path), "-c", "x", "--db", str(tmp_path), "-q"])
    assert res.exit_code != 0 and "Bad collection name" in res.output
    res = runner.invoke(main, ["collections", "--db", str(tmp_path), "--chroma-url", "http://x:1"])
    assert res.exit_code == 2 and "not both" in res.output


def _write_corpus(folder, files=60):
    folder.mkdir()
    words = "river mountain engine harbor violin orbit garden pixel thunder lantern quartz meadow".split()
    for i in range(files):
        paras = [" ".join(f"{words[(i + j + k) % len(words)]}{(i * 7 + j * 3 + k) % 97}" for k in range(60)) + "."
                 for j in range(3)]
        (folder / f"doc{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paras) + "\n")


def test_killed_ingest_resumes_without_duplicates(tmp_path, default_embedder):
    corpus, db = tmp_path / "corpus", tmp_path / "db"
    _write_corpus(corpus)
    env = {**os.environ, "AUGMENT_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "augment", "ingest", str(corpus), "--collection", "big", "--db", str(db),
           "--batch-size", "4"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    seen: list[int] = []

    def watch():  # tqdm writes "n/60" progress updates to stderr
        buf = b""
        while chunk := proc.stderr.read1(4096):
            buf += chunk
            seen.extend(int(m) for m in re.findall(rb"(\d+)/60 ", buf[-400:]))

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    deadline = time.time() + 240
    while not (seen and max(seen) >= 10) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(timeout=5)
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"

    store = ChromaStore("big", path=db, embedder=default_embedder)
    done_before = len(file_records(store))
    assert 0 < done_before < 60 and store.count() > 0  # really interrupted halfway

    res = CliRunner().invoke(main, ["ingest", str(corpus), "--collection", "big", "--db", str(db), "--json", "-q"],
                             env={"AUGMENT_CACHE_DIR": str(tmp_path / "cache")})
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["unchanged"] >= done_before and report["unchanged"] + report["new_files"] == 60

    splitter = TokenSplitter(default_embedder, 200, 20)
    expected = {c.id for f in sorted(corpus.iterdir()) for c in split_documents(load_file(f), splitter)}
    store = ChromaStore("big", path=db, embedder=default_embedder)
    ids = store.ids()
    assert len(ids) == len(set(ids)) == store.count() == len(expected)  # complete, no duplicates
    assert set(ids) == expected and len(file_records(store)) == 60
    texts = [d.text for d in store.iter_documents()]
    assert len(texts) == len(set(texts))


def test_ingest_prune_and_dry_run(tmp_path, monkeypatch):
    """Deleted files' chunks are listed by --prune --dry-run, removed by --prune, on a real persistent store."""
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    corpus = make_corpus(tmp_path / "docs")
    db = str(tmp_path / "db")
    runner = CliRunner()
    args = ["ingest", str(corpus), "-c", "notes", "--db", db, "--ignore", "scan.pdf", "--ignore", "empty.txt",
            "--ignore", "binary.txt", "--quiet"]
    assert runner.invoke(main, args).exit_code == 0
    (corpus / "plain.txt").unlink()
    res = runner.invoke(main, args + ["--prune", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["dry_run"] and report["pruned"] == [[str(corpus / "plain.txt"), "the file is gone"]]
    assert (report["pruned_chunks"], report["count"]) == (1, 7)
    res = runner.invoke(main, args + ["--prune"])
    assert res.exit_code == 0 and f"PRUNED {corpus / 'plain.txt'}: the file is gone" in res.output, res.output
    store = ChromaStore("notes", path=db, create=False)
    assert store.count() == 6 and str(corpus / "plain.txt") not in file_records(store)
