"""Evaluate a RAG chatbot on your own documents: ``evaluate_rag(docs, qa, llm)``.

``docs`` is a folder of documents (.txt .md .html .pdf .jsonl); ``qa`` is a
JSONL file, one question a line::

    {"id": "q1", "question": "How long is the warranty?", "answer": "24 months", "source": "warranty.md"}
    {"id": "q2", "question": "Who founded the company?", "answerable": false}

``answer`` is a span (or a list of accepted spans) that appears verbatim in
the ``source`` file (or one of the ``sources``); ``answerable: false`` marks a
question the documents cannot answer. The documents are ingested into a real,
persistent Chroma collection (``store_dir``, a temporary folder by default),
and :class:`~augment.rag.RAG` answers every question. The report holds:

- ``hit_at_k`` / ``ndcg_at_k`` / ``mrr``: is the source file among the
  retrieved sources (files ranked by their best chunk; binary relevance);
- ``span_in_answer``: the answer contains a span, after :func:`normalize_span`
  (case, whitespace, punctuation, thousands separators, trailing zeros,
  number words);
- ``citation_precision``: of the sources the answers cite, the share whose
  text holds the span; ``answers_with_citation``: answers citing anything;
- ``abstain_unanswerable``: share of unanswerable questions answered "I don't
  know" (``RAGAnswer.abstained``); ``abstain_answerable``: the same on
  answerable ones (false abstentions);
- ``s_per_answer``; and one row per question (answer, sources, citations).

>>> from augment.eval.rag_eval import span_in_text
>>> span_in_text("The tank holds 1,200 ml [2].", "1200 mL"), span_in_text("It takes 40 s.", "4 s")
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from augment.errors import AugmentError, ConfigError, DataError
from augment.eval.runner import EvalReport, _describe

__all__ = ["evaluate_rag", "load_qa", "normalize_span", "span_in_text", "ndcg_at_k", "RETRIEVERS", "read_jsonl"]

RETRIEVERS = ("hybrid", "dense", "bm25")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
                      "ninety": "90", "hundred": "100"})
_IDK = re.compile(r"^\W*(?:answer\s*:\s*)?i\s+(?:don['’]?t|do\s+not)\s+know", re.I)


def normalize_span(text: Any) -> str:
    """Lower-case; ``1,200`` -> ``1200``; ``2.50`` -> ``2.5``; number words -> digits; punctuation -> spaces.

    >>> normalize_span("Set it to FIVE (5.0 V), then press \\"OK\\".")
    'set it to 5 5 v then press ok'
    """
    t = "" if text is None else str(text).lower()
    t = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", t)
    t = re.sub(r"(\d+)\.(\d*?)0+(?!\d)", lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)  # a period that is not a decimal point
    t = re.sub(r"[^\w\s.]|_", " ", t)
    return " ".join(_NUMBER_WORDS.get(w, w) for w in t.split())


def span_in_text(text: Any, span: Any) -> bool:
    """``span`` occurs in ``text`` as whole words after :func:`normalize_span` (so "4" is not found in "40")."""
    s = normalize_span(span)
    return bool(s) and f" {s} " in f" {normalize_span(text)} "


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """nDCG@k with binary relevance (log2 discount) of a ranked list of ids.

    >>> round(ndcg_at_k(["a", "b", "c"], {"b"}, 3), 4)
    0.6309
    """
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal if ideal else 0.0


def read_jsonl(path: str | Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line; a bad line raises :class:`DataError` naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} file {str(p)!r} does not exist; pass a JSONL file (one JSON object a line)")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{p}, line {n}: not valid JSON ({e.msg} at column {e.colno}); "
                            "each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise DataError(f"{p}, line {n}: a JSON {type(obj).__name__}, expected an object like {{\"question\": ...}}")
        rows.append((n, obj))
    if not rows:
        raise DataError(f"{what} file {str(p)!r} is empty; nothing to evaluate")
    return rows


def _strings(value: Any, where: str, key: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) and str(x).strip() for x in items):
        raise DataError(f"{where}: {key!r} must be a non-empty string or a list of them, got {value!r}")
    return [str(x) for x in items]


def load_qa(path: str | Path, docs: str | Path | None = None) -> list[dict[str, Any]]:
    """Read and check a QA file (see the module docstring); with ``docs``, each span must be in its source file."""
    items, seen = [], set()
    texts = _doc_texts(docs) if docs is not None else None
    for n, obj in read_jsonl(path, "QA"):
        where = f"{path}, line {n}"
        q = obj.get("question")
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{where}: needs a non-empty \"question\" string")
        qid = str(obj.get("id", f"line{n}"))
        if qid in seen:
            raise DataError(f"{where}: the id {qid!r} is used twice; give each question its own id")
        seen.add(qid)
        answerable = obj.get("answerable", True)
        if not isinstance(answerable, bool):
            raise DataError(f"{where}: \"answerable\" must be true or false, got {answerable!r}")
        item = {"id": qid, "question": q.strip(), "answerable": answerable, "answers": [], "sources": [], "line": n}
        if answerable:
            spans = obj.get("answers", obj.get("answer"))
            if spans is None:
                raise DataError(f"{where}: give the answer span(s) in \"answer\", or \"answerable\": false")
            item["answers"] = _strings(spans, where, "answer")
            srcs = obj.get("sources", obj.get("source"))
            if srcs is None:
                raise DataError(f"{where}: give the \"source\" file (relative to the documents folder) that holds the answer")
            item["sources"] = [Path(s).as_posix() for s in _strings(srcs, where, "source")]
            if texts is not None:
                _check_spans(item, texts, where, docs)
        items.append(item)
    return items


def _doc_texts(docs: str | Path) -> dict[str, str]:
    from augment.retrieval.documents import iter_files, load_file

    root = Path(docs).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"documents folder {str(docs)!r} does not exist or is not a folder")
    out = {}
    for f in iter_files(root):
        try:
            out[f.relative_to(root).as_posix()] = " ".join(d.text for d in load_file(f))
        except AugmentError:
            continue  # ingestion reports it
    if not out:
        raise DataError(f"documents folder {str(docs)!r} holds no readable .txt/.md/.html/.pdf/.jsonl file")
    return out


def _check_spans(item: dict[str, Any], texts: dict[str, str], where: str, docs: Any) -> None:
    for s in item["sources"]:
        if s not in texts:
            raise DataError(f"{where}: source {s!r} is not a file of {docs} (files: {', '.join(sorted(texts)[:8])}...)")
    if not any(span_in_text(texts[s], a) for s in item["sources"] for a in item["answers"]):
        raise DataError(f"{where}: none of the answer spans {item['answers']} appears in {item['sources']}; "
                        "copy the span from the document")


def _relative(source: Any, root: Path) -> str:
    p = Path(str(source))
    try:
        return p.absolute().relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def _build_rag(llm: Any, store: Any, retriever: str, k: int, rag_options: dict[str, Any]) -> Any:
    from augment.rag import RAG
    from augment.retrieval.bm25 import BM25Retriever
    from augment.retrieval.retriever import DenseRetriever, hybrid_retriever

    if retriever == "hybrid":
        r = hybrid_retriever(store, k=k)
    elif retriever == "dense":
        r = DenseRetriever(store, k=k)
    else:
        r = BM25Retriever(store, k=k)
    return RAG(llm, r, k=k, **rag_options)


def _score(item: dict[str, Any], answer: Any, root: Path, k: int) -> dict[str, Any]:
    files: list[str] = []
    for s in answer.sources:
        f = _relative(s.metadata.get("source", s.id), root)
        if f not in files:
            files.append(f)
    text = answer.answer or ""
    abstained = bool(answer.abstained) or bool(_IDK.search(text))
    row: dict[str, Any] = {"retrieved": files, "abstained": abstained, "answer": text}
    if getattr(answer, "idk_probability", None) is not None:
        row["idk_probability"] = round(answer.idk_probability, 4)  # how much the model leaned to "I don't know"
    raw = getattr(answer, "raw_answer", "") or ""
    if raw and raw != text:
        row["raw_answer"] = raw  # what the model wrote, before the citation checks replaced it
    if item["answerable"]:
        rel = set(item["sources"])
        rank = next((i + 1 for i, f in enumerate(files) if f in rel), None)
        cites = [{"n": n, "source": _relative(src.metadata.get("source", src.id), root),
                  "holds_span": any(span_in_text(src.text, a) for a in item["answers"])}
                 for n, src in sorted(answer.citations.items())]
        row.update(hit=rank is not None and rank <= k, rank=rank, ndcg=round(ndcg_at_k(files, rel, k), 4),
                   span_in_answer=any(span_in_text(text, a) for a in item["answers"]), citations=cites)
    else:
        row["citations"] = [{"n": n, "source": _relative(src.metadata.get("source", src.id), root)}
                            for n, src in sorted(answer.citations.items())]
    return row


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def rag_metrics(rows: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """The report's figures from scored rows (rows with an ``error`` count as misses)."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    cites = [c for r in ans for c in r.get("citations", [])]
    timed = [r["seconds"] for r in rows if "seconds" in r and "error" not in r]
    return {
        f"hit_at_{k}": _mean([float(bool(r.get("hit"))) for r in ans]),
        f"ndcg_at_{k}": _mean([r.get("ndcg", 0.0) for r in ans]),
        "mrr": _mean([1.0 / r["rank"] if r.get("rank") else 0.0 for r in ans]),
        "span_in_answer": _mean([float(bool(r.get("span_in_answer"))) for r in ans]),
        "citation_precision": _mean([float(c["holds_span"]) for c in cites]),
        "answers_with_citation": _mean([float(bool(r.get("citations"))) for r in ans]),
        "abstain_unanswerable": _mean([float(bool(r.get("abstained"))) for r in una]),
        "abstain_answerable": _mean([float(bool(r.get("abstained"))) for r in ans]),
        "s_per_answer": round(sum(timed) / len(timed), 2) if timed else None,
        "n_answerable": len(ans), "n_unanswerable": len(una),
    }


def evaluate_rag(docs: str | Path, qa: str | Path | Sequence[dict[str, Any]], llm: Any, *, k: int = 5,
                 store_dir: str | Path | None = None, collection: str | None = None, embedder: Any = None,
                 retriever: str = "hybrid", limit: int | None = None, report: str | Path | None = None,
                 progress: bool = True, check_spans: bool = True, max_seconds: float | None = None,
                 **rag_options: Any) -> EvalReport:
    """Ingest ``docs``, answer every question of ``qa`` with ``RAG(llm, retriever, k=k)``, score, report.

    ``llm``: any augment LLM (``load_llm()``, ``load_llm(adapter=None)``, a remote model, ``FakeLLM``).
    ``store_dir``: where the Chroma collection persists (reused on the next run: unchanged files are
    not embedded again); None uses a temporary folder removed at the end. ``embedder``: default the
    packaged all-MiniLM-L6-v2. ``retriever``: ``hybrid`` (the default RAG retriever), ``dense`` or
    ``bm25``. ``rag_options`` go to :class:`~augment.rag.RAG` (``max_tokens=``, ``score_threshold=``...).
    ``check_spans``: each answer span must appear in its source file (else :class:`DataError`).
    ``max_seconds``: ask no new question after this long (``meta["skipped"]`` counts the others).

    >>> from augment.llm.fake import FakeLLM   # doctest: +SKIP
    >>> rep = evaluate_rag("manual/", "qa.jsonl", load_llm(), report="rag.json")   # doctest: +SKIP
    >>> rep.metrics["span_in_answer"], rep.metrics["hit_at_5"]   # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from augment.llm.base import LLM
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.store import ChromaStore

    if not isinstance(llm, LLM):
        raise ConfigError(f"evaluate_rag needs an augment LLM (load_llm(), FakeLLM...), got {type(llm).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if retriever not in RETRIEVERS:
        raise ConfigError(f"unknown retriever {retriever!r}; use one of {', '.join(RETRIEVERS)}")
    root = Path(docs).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"documents folder {str(docs)!r} does not exist or is not a folder")
    items = load_qa(qa, root if check_spans else None) if isinstance(qa, (str, Path)) else list(qa)
    if limit is not None:
        items = _balanced(items, limit)
    tmp = None if store_dir is not None else tempfile.mkdtemp(prefix="augment-rag-eval-")
    name = collection or "rag-eval-" + hashlib.sha1(str(root).encode()).hexdigest()[:10]
    start = time.perf_counter()
    try:
        store = ChromaStore(name, path=store_dir or tmp, embedder=embedder)
        ingested = ingest(root, store, progress=progress)
        if ingested.failed and progress:
            print(ingested.summary(), file=sys.stderr)
        rag = _build_rag(llm, store, retriever, k, rag_options)
        rows: list[dict[str, Any]] = []
        errors = 0
        for item in tqdm(items, desc="rag eval", unit="question", disable=not progress):
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
            row = {"id": item["id"], "question": item["question"], "answerable": item["answerable"],
                   "expected": item["answers"], "sources": item["sources"]}
            t0 = time.perf_counter()
            try:
                answer = rag.ask(item["question"])
                row.update(_score(item, answer, root, k))
            except AugmentError as e:
                errors += 1
                row.update(error=f"{type(e).__name__}: {e}", citations=[])
            row["seconds"] = round(time.perf_counter() - t0, 3)
            rows.append(row)
        meta = {"docs": str(root), "k": k, "retriever": retriever, "collection": name, "skipped": len(items) - len(rows),
                "store": str(store_dir) if store_dir else "(temporary)", "chunks": store.count(),
                "ingest": {"files": ingested.files, "unchanged": ingested.unchanged, "failed": ingested.failed,
                           "seconds": round(ingested.seconds, 2)},
                "adapter": getattr(llm, "active_adapter", None), "rag_options": rag_options}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rep = EvalReport(rag_metrics(rows, k), rows, program=f"RAG({_describe(llm)})",
                     seconds=time.perf_counter() - start, errors=errors, meta=meta)
    if report is not None:
        rep.save(report)
    return rep


def _balanced(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` items, keeping the answerable/unanswerable mix (about 3 to 1 when both exist)."""
    if limit < 1:
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")
    ans = [i for i in items if i["answerable"]]
    una = [i for i in items if not i["answerable"]]
    n_una = min(len(una), max(1 if una and limit > 1 else 0, round(limit * len(una) / max(1, len(items)))))
    picked = {id(i) for i in ans[: limit - n_una] + una[:n_una]}
    return [i for i in items if id(i) in picked][:limit]
