"""Grounded-answer benchmark on the default model, through the library's runner ``augment.eval.evaluate_rag``.

    .venv/bin/python tools/eval_rag.py                 # the default configuration on tests/data/rag_eval
    .venv/bin/python tools/eval_rag.py --limit 12      # a subset (answerable and unanswerable questions mixed)
    .venv/bin/python tools/eval_rag.py --compare       # + the model writing the answers, with and without its adapter
    .venv/bin/python tools/eval_rag.py --docs my_docs/ --qa my_qa.jsonl

The documents (a fictional weather-station manual, held out from any tuning) are ingested
once into a real Chroma collection in a temporary folder; ``RAG(load_llm(), hybrid_retriever,
k=5)`` answers each question with its default options. Rows: ``default`` (``load_llm()``, with
the adapter it loads by default when it ships one, and RAG's default ``reader="auto"``, which on
the default model is the extractive reader: the model does not write the answer) and, with
``--compare``, ``model_reader`` (the same model writes the answers: ``reader="model"``, with its
adapter) and ``no_adapter`` (``load_llm(adapter=None)`` writes them; skipped with the reason while
``load_llm()`` loads no adapter). ``--reader`` sets the default row's reader.
The last stdout line is one JSON object: ``span_in_answer``, ``citation_precision``,
``abstain_unanswerable``, ``hit_at_5``, ``s_per_answer`` (and the rest) of the default row,
other rows under their own keys.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from eval_common import adapter_of, cpu_model, dtype_of, load_default, load_without_adapter, pct  # noqa: E402

from augment.eval.rag_eval import evaluate_rag  # noqa: E402
from augment.rag import READERS  # noqa: E402

DATA = ROOT / "tests" / "data" / "rag_eval"


def run_row(llm: Any, label: str, args: Any, store: str, embedder: Any, reader: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"max_tokens": args.max_tokens} if args.max_tokens else {}
    if args.no_answer_type:
        options["check_answer_type"] = False
    if reader or args.reader:
        options["reader"] = reader or args.reader
    if args.abstain_threshold is not None:
        options["abstain_threshold"] = None if args.abstain_threshold == "off" else float(args.abstain_threshold)
    rep = evaluate_rag(args.docs, args.qa, llm, k=args.k, store_dir=store, embedder=embedder, limit=args.limit,
                       progress=False, max_seconds=args.max_minutes * 60 if args.max_minutes else None, **options)
    if rep.meta["skipped"]:
        print(f"  [{label}] stopped after --max-minutes: {rep.meta['skipped']} question(s) not asked", flush=True)
    for r in rep.predictions:
        mark = ("OK " if r.get("span_in_answer") else "BAD") if r["answerable"] else ("ABST" if r.get("abstained") else "ANSW")
        cites = ",".join(f"{c['n']}{'+' if c.get('holds_span') else ''}" for c in r.get("citations", []))
        print(f"  [{label}] {r['id']} {mark} rank={r.get('rank')} cites=[{cites}] {r['seconds']:.1f}s | "
              f"{(r.get('answer') or r.get('error') or '')[:110]!r}", flush=True)
    if args.out:
        rep.save(Path(args.out) / f"rag_{label}.json")
    print(f"== {label}: {json.dumps(rep.metrics)}", flush=True)
    return rep.metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=Path, default=DATA / "docs")
    p.add_argument("--qa", type=Path, default=DATA / "qa.jsonl")
    p.add_argument("--k", type=int, default=5, help="sources per question")
    p.add_argument("--limit", type=int, default=None, help="ask N questions (answerable and unanswerable mixed)")
    p.add_argument("--compare", action="store_true",
                   help="add the rows where the model writes the answers (reader='model'), with and without its adapter")
    p.add_argument("--max-tokens", type=int, default=None, help="max new tokens per answer (default: RAG's)")
    p.add_argument("--max-minutes", type=float, default=None, help="per row: start no new item after this long")
    p.add_argument("--abstain-threshold", default=None,
                   help="RAG's abstain_threshold: a probability, or 'off' (the default)")
    p.add_argument("--no-answer-type", action="store_true",
                   help="RAG(check_answer_type=False): keep answers that lack the kind of fact the question asks for")
    p.add_argument("--reader", default=None, choices=READERS,
                   help="RAG(reader=...): who writes the answers (default: RAG's, 'auto')")
    p.add_argument("--dtype", default=None, help="model dtype for load_llm (default: its choice)")
    p.add_argument("--adapter", default=None, metavar="DIR",
                   help="a LoRA folder to use as augment's adapter instead of the shipped one (a candidate)")
    p.add_argument("--model", default=None,
                   help="a load_llm spec instead of the default model (e.g. 'llamacpp': the same GGUF on llama.cpp)")
    p.add_argument("--out", default=None, help="folder for the JSON reports (one per row, one line per question)")
    args = p.parse_args(argv)

    from augment.retrieval.embeddings import Embedder

    llm = load_default(args.dtype, args.model, args.adapter)
    print(f"docs: {args.docs}, questions: {args.qa}, k={args.k}, limit={args.limit}", flush=True)
    print(f"model: {llm.model_name} ({dtype_of(llm)}), adapter: {adapter_of(llm)}; CPU: {cpu_model()}", flush=True)
    store = tempfile.mkdtemp(prefix="augment-eval-rag-")
    try:
        embedder = Embedder()
        rows: dict[str, Any] = {"default": run_row(llm, "default", args, store, embedder)}
        if args.compare:  # the model itself writes the answers: with its adapter, then without
            rows["model_reader"] = run_row(llm, "model_reader", args, store, embedder, reader="model")
            plain, note = load_without_adapter(llm, args.dtype)
            rows["no_adapter"] = (run_row(plain, "no_adapter", args, store, embedder, reader="model")
                                  if plain is not None else {"note": note})
    finally:
        shutil.rmtree(store, ignore_errors=True)

    hit = f"hit_at_{args.k}"
    print(f"\n{'row':<14}{hit:>10}{'span':>7}{'cite prec':>11}{'abstain(un)':>13}{'abstain(ans)':>14}{'s/answer':>10}")
    for name, r in rows.items():
        if "note" in r:
            print(f"{name:<14}  {r['note']}")
            continue
        print(f"{name:<14}{pct(r[hit]):>10}{pct(r['span_in_answer']):>7}{pct(r['citation_precision']):>11}"
              f"{pct(r['abstain_unanswerable']):>13}{pct(r['abstain_answerable']):>14}{str(r['s_per_answer']):>10}")
    default = rows.pop("default")
    final = {**default, "model": llm.model_name, "dtype": dtype_of(llm), "adapter": adapter_of(llm), "cpu": cpu_model(),
             "qa_file": str(args.qa), **rows}
    print(json.dumps(final))
    return final


if __name__ == "__main__":
    main()
