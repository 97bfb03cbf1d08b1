"""Honest: check that an answer is supported by its sources, sentence by sentence.

The rule is RAG's citation check (:mod:`augment.rag_checks`): a sentence is
supported when a source shares enough of its content words (or, with an
embedder, says the same thing in other words). Here it works for *any* answer
and sources, cited or not, and gives a hallucination rate per answer; with
``drop_unsupported=True`` the unsupported sentences are removed from the text.

>>> checker = GroundingChecker()
>>> report = checker.check("Paris is the capital of France. It has 90 million people.",
...                        ["Paris is the capital and largest city of France."])
>>> [s.supported for s in report.sentences], report.hallucination_rate
([True, False], 0.5)
>>> checker.check("Paris is the capital of France. It has 90 million people.",
...               ["Paris is the capital of France."], drop_unsupported=True).text
'Paris is the capital of France.'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from augment.errors import ConfigError
from augment.rag_checks import SupportChecker, check_answer, split_sentences

__all__ = ["GroundingChecker", "GroundingReport", "SentenceSupport"]


@dataclass
class SentenceSupport:
    """One sentence: whether a source supports it (None: nothing to check, e.g. "Sure!") and which sources."""

    text: str
    supported: bool | None
    sources: list[int] = field(default_factory=list)
    overlap: float = 0.0
    similarity: float | None = None


@dataclass
class GroundingReport:
    """Per-sentence support of an answer; ``text`` is the answer (unsupported sentences removed when asked)."""

    text: str
    sentences: list[SentenceSupport]
    dropped: list[str] = field(default_factory=list)

    @property
    def checked(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if s.supported is not None]

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if s.supported is False]

    @property
    def hallucination_rate(self) -> float:
        """Share of checked sentences that no source supports (0.0 when nothing was checkable)."""
        checked = self.checked
        return sum(s.supported is False for s in checked) / len(checked) if checked else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "hallucination_rate": round(self.hallucination_rate, 4), "unsupported": self.unsupported,
                "sentences": [s.__dict__ for s in self.sentences], "dropped": self.dropped}


class GroundingChecker:
    """Check any answer against any sources (see the module doc).

    ``min_overlap`` and ``min_similarity`` are RAG's support thresholds; ``embedder``
    (optional) adds the paraphrase check. ``cited_only=True`` checks a cited
    sentence only against the sources it cites (RAG's rule); by default every
    sentence may be supported by any source.
    """

    def __init__(self, min_overlap: float = 0.5, embedder: Any = None, min_similarity: float = 0.75,
                 cited_only: bool = False):
        try:
            self.support = SupportChecker(min_overlap, embedder, min_similarity)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.cited_only = cited_only

    def check(self, answer: str, sources: Sequence[Any], drop_unsupported: bool = False) -> GroundingReport:
        """Check ``answer`` against ``sources`` (strings, or documents with ``.text``)."""
        if not isinstance(answer, str):
            raise ConfigError(f"the answer must be a string, got {type(answer).__name__}")
        texts = [s if isinstance(s, str) else getattr(s, "text", None) for s in sources]
        if any(t is None for t in texts):
            raise ConfigError("sources must be strings or documents with a .text attribute")
        if self.cited_only:
            checked = check_answer(answer, texts, self.support, infer=True)
            sentences = [SentenceSupport(c.text, c.supported, list(c.citations), c.overlap, c.similarity)
                         for c in checked.sentences]
        else:
            sentences = [self._sentence(s, texts) for s in split_sentences(answer.strip())[0]]
        kept = [s.text for s in sentences if not (drop_unsupported and s.supported is False)]
        dropped = [s.text for s in sentences if drop_unsupported and s.supported is False]
        text = " ".join(t for t in kept if t.strip()) if drop_unsupported else answer.strip()
        return GroundingReport(text, sentences, dropped)

    def _sentence(self, sentence: str, sources: list[str]) -> SentenceSupport:
        from augment.rag_checks import _CITE, _IDK, content_words

        plain = _CITE.sub("", sentence).strip()
        if not content_words(plain) or plain.lower().startswith(_IDK):
            return SentenceSupport(sentence, None)
        results = [self.support.supports(plain, src) for src in sources]
        supporting = [i + 1 for i, r in enumerate(results) if r[0]]
        best = max(results, key=lambda r: r[1]) if results else (False, 0.0, None)
        return SentenceSupport(sentence, bool(supporting), supporting, best[1], best[2])

    def hallucination_rate(self, answers: Sequence[str], sources: Sequence[Sequence[Any]]) -> float:
        """Mean hallucination rate over several answers (each with its own sources)."""
        if len(answers) != len(sources):
            raise ConfigError(f"{len(answers)} answers but {len(sources)} source lists; give one list per answer")
        rates = [self.check(a, s).hallucination_rate for a, s in zip(answers, sources)]
        return sum(rates) / len(rates) if rates else 0.0
