"""User feedback on model answers, recorded to a jsonl file for preference tuning.

A RAG chatbot or an agent records thumbs up / down (and optionally a preferred
rewrite) for each answer; :meth:`FeedbackLog.preference_pairs` turns the log
into ``(prompt, chosen, rejected)`` pairs that DPO trains on
(:func:`augment.finetune.dpo.train_dpo`).

>>> import tempfile, os
>>> log = FeedbackLog(os.path.join(tempfile.mkdtemp(), "fb.jsonl"))
>>> log.record("Capital of France?", "Lyon.", rating=-1, preferred="Paris.")
>>> log.preference_pairs()[0].chosen
'Paris.'
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from augment.errors import DataError

__all__ = ["FeedbackLog", "FeedbackRecord", "PreferencePair"]


@dataclass
class FeedbackRecord:
    """One rated answer: ``rating`` is +1 (thumbs up) or -1 (thumbs down)."""

    prompt: str
    response: str
    rating: int
    preferred: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0


@dataclass(frozen=True)
class PreferencePair:
    """A preference: for ``prompt``, ``chosen`` is better than ``rejected``."""

    prompt: str
    chosen: str
    rejected: str

    def to_dict(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


class FeedbackLog:
    """An append-only jsonl file of rated answers.

    Each :meth:`record` call appends one line, so nothing already recorded is
    ever rewritten; concurrent writers in one process are serialised.

    Example::

        log = FeedbackLog("feedback.jsonl")
        log.record("Summarise X", "a long rambling answer", rating=-1, preferred="X in one line.")
        log.record("Summarise Y", "Y in one line.", rating=+1, user="ann")
        pairs = log.preference_pairs()   # [PreferencePair(prompt, chosen, rejected), ...]
    """

    _lock = threading.Lock()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def record(self, prompt: str, response: str, rating: int, preferred: str | None = None, **meta: Any) -> None:
        """Append one rating. ``rating`` must be +1 or -1; ``meta`` (user, model, sources...) must be JSON-serialisable."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError("feedback needs a non-empty prompt string")
        if not isinstance(response, str):
            raise DataError(f"feedback response must be a str, got {type(response).__name__}")
        if rating not in (1, -1) or isinstance(rating, bool):
            raise DataError(f"feedback rating must be +1 (thumbs up) or -1 (thumbs down), got {rating!r}")
        if preferred is not None and not isinstance(preferred, str):
            raise DataError("feedback 'preferred' must be a str (the rewrite the user prefers) or None")
        rec = FeedbackRecord(prompt, response, int(rating), preferred, dict(meta), time.time())
        try:
            line = json.dumps(asdict(rec), ensure_ascii=False)
        except TypeError as e:
            raise DataError(f"feedback meta must be JSON-serialisable: {e}") from e
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def __iter__(self) -> Iterator[FeedbackRecord]:
        return iter(self.records())

    def records(self) -> list[FeedbackRecord]:
        """All records in file order. A malformed line raises :class:`DataError` naming the line number."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    out.append(FeedbackRecord(d["prompt"], d["response"], int(d["rating"]), d.get("preferred"),
                                              d.get("meta") or {}, float(d.get("time", 0.0))))
                except (ValueError, KeyError, TypeError) as e:
                    raise DataError(f"{self.path}:{i}: not a feedback record ({e}); fix or remove that line") from e
        return out

    def __len__(self) -> int:
        return len(self.records())

    def preference_pairs(self) -> list[PreferencePair]:
        """Turn the log into DPO pairs.

        * a rated-down response with a ``preferred`` rewrite -> (prompt, rewrite, response);
        * a rated-up response with a ``preferred`` rewrite -> (prompt, rewrite, response) too
          (the user still wrote something better);
        * for each prompt, every thumbs-up response against every thumbs-down response.

        Duplicates and pairs whose chosen equals rejected are dropped; order follows the file.
        """
        recs = self.records()
        pairs: list[PreferencePair] = []
        seen: set[tuple[str, str, str]] = set()

        def add(p: str, c: str, r: str) -> None:
            key = (p, c, r)
            if c.strip() != r.strip() and key not in seen:
                seen.add(key)
                pairs.append(PreferencePair(p, c, r))

        by_prompt: dict[str, tuple[list[str], list[str]]] = {}
        for rec in recs:
            if rec.preferred:
                add(rec.prompt, rec.preferred, rec.response)
            ups, downs = by_prompt.setdefault(rec.prompt, ([], []))
            (ups if rec.rating > 0 else downs).append(rec.response)
        for prompt, (ups, downs) in by_prompt.items():
            for u in ups:
                for d in downs:
                    add(prompt, u, d)
        return pairs
