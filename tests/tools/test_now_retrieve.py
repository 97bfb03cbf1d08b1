"""now and retrieve built-ins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from augment.errors import ToolError
from augment.tools import builtin
from augment.types import Document, ScoredDocument


def test_now_utc_and_timezone():
    out = builtin("now").call({})
    stamp = datetime.fromisoformat(out.split(" ")[0])
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert out.endswith(" UTC)")
    tokyo = builtin("now").call({"timezone": "Asia/Tokyo"})
    assert "+09:00" in tokyo and tokyo.endswith("Asia/Tokyo)")
    assert "Europe/Paris" in builtin("now", default_timezone="Europe/Paris").call({})


def test_now_unknown_timezone():
    with pytest.raises(ToolError, match=r"unknown time zone 'Mars/Base'; use an IANA name"):
        builtin("now").call({"timezone": "Mars/Base"})
    with pytest.raises(ToolError, match="unknown time zone"):
        builtin("now", default_timezone="Nowhere")


class KeywordRetriever:
    """A small real retriever: scores documents by shared words."""

    def __init__(self, docs):
        self.docs = docs
        self.calls = []

    def retrieve(self, query, k=4):
        self.calls.append((query, k))
        words = set(query.lower().split())
        scored = [ScoredDocument(d, len(words & set(d.text.lower().rstrip(".").split())) / len(words)) for d in self.docs]
        return sorted((s for s in scored if s.score > 0), key=lambda s: -s.score)[:k]


def test_retrieve_numbers_passages_with_sources():
    docs = [
        Document("The Eiffel tower is in Paris.", {"source": "paris.md"}),
        Document("Paris is the capital of France.", {"source": "france.pdf", "page": 3}),
        Document("Berlin is in Germany.", {}, id="doc-7"),
    ]
    r = KeywordRetriever(docs)
    tool = builtin("retrieve", retriever=r, k=2)
    out = tool.call({"query": "capital paris"})
    assert out.splitlines() == [
        "[1] (source: france.pdf, page 3, score 1.000) Paris is the capital of France.",
        "[2] (source: paris.md, score 0.500) The Eiffel tower is in Paris.",
    ]
    assert r.calls == [("capital paris", 2)]
    assert "(source: doc-7" in tool.call({"query": "germany", "k": 50})  # k is capped at max_k
    assert r.calls[-1] == ("germany", 10)
    assert tool.call({"query": "tokyo"}) == "No passages found for 'tokyo'."
    with pytest.raises(ToolError, match="the query is empty"):
        tool.call({"query": "  "})
