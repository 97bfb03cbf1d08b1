"""Shared by the tuning-data generators (``make_tool_data.py``, ``make_rag_data.py``, ``make_manual_data.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def write_records(rows: list[dict[str, Any]], out: Path) -> dict[str, int]:
    """Write ``rows`` as JSON lines to ``out`` (its folder created) and return how many there are of each kind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    return kinds


def held_out_qa(*sets: str) -> tuple[list[str], list[str]]:
    """``(answer spans of 6+ characters, lower-cased questions)`` of the RAG evaluation sets named
    (``"rag_eval"``, ``"rag_dev"`` under ``tests/data``): what no tuning record may contain."""
    spans, questions = [], []
    for name in sets:
        path = ROOT / "tests" / "data" / name / "qa.jsonl"
        for line in path.read_text().splitlines() if path.is_file() else []:
            if line.strip():
                row = json.loads(line)
                questions.append(row["question"].strip().lower())
                for key in ("answer", "answers", "spans", "span"):
                    v = row.get(key)
                    spans += [v] if isinstance(v, str) else [s for s in (v or []) if isinstance(s, str)]
    return [s for s in spans if len(s) >= 6], questions
