"""Shared by the tuning-data generators (``make_tool_data.py``, ``make_rag_data.py``, ``make_manual_data.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
