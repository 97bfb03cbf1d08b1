"""An extractive reader: answer by copying the source sentence that answers the question, and cite it.

A RAG answer needs two things from a "reader": pick the sentence of the sources that holds the
answer, and say "I don't know" when none does. A 135M-parameter chat model does the first badly on
real documents (it often copies a wrong sentence of the right source, or says "I don't know" to a
question its first source answers), while the sentence embedder the retriever already uses ranks
the right sentence first far more often. :class:`ExtractiveReader` does that:

1. the retrieved sources are split into candidate sentences (lines and sentence ends; a Markdown
   heading is not a candidate; a lead-in line ending with ``:`` is joined with the list under it);
2. candidates are ranked by cosine similarity to the question with the embedder (without one, by
   the share of the question's content words they hold);
3. among the ``depth`` best, the first that passes the checks is the answer:

   - when the question asks for a kind of fact (a price, a weight, a number...,
     :func:`~augment.rag_checks.expected_answer_type`), the sentence gives one;
   - it shares a content word with the question;
   - it does not name the other side of a contrast the question makes (asked about the *rear*
     light, a sentence about the *front* light that never says *rear* does not answer);

4. the answer is that sentence, verbatim, with its source number: ``"... [2]."``; with no candidate
   left, it is "I don't know" and :attr:`Extract.reason` says why.

>>> reader = ExtractiveReader()   # no embedder: ranks by word overlap
>>> sources = ["# Lights\\nThe front light gives 60 lux. The rear light blinks when you brake.",
...            "The battery weighs 2.1 kg."]
>>> reader.read("How heavy is the battery?", sources).answer
'The battery weighs 2.1 kg [2].'
>>> print(reader.read("How many lux does the rear light give?", sources).reason)
none of the 3 best sentences of the sources answers it (the 1st is about the front, not the rear; the 2nd gives no brightness; the 3rd gives no brightness)
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from augment.errors import ConfigError
from augment.rag_checks import content_words, expected_answer_type, split_sentences

__all__ = ["ExtractiveReader", "Extract", "Candidate", "CONTRASTS", "candidate_sentences"]

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_ITEM = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
_WORD = re.compile(r"[a-z]+")
ORDINALS = ("the 1st", "the 2nd", "the 3rd") + tuple(f"the {i}th" for i in range(4, 100))

#: pairs of words that pick one of two things ("the front light" / "the rear light"): a question that
#: says one and a sentence that says only the other are about different things
CONTRASTS: tuple[tuple[str, str], ...] = (
    ("front", "rear"), ("front", "back"), ("left", "right"), ("upper", "lower"), ("top", "bottom"),
    ("inner", "outer"), ("inside", "outside"), ("indoor", "outdoor"), ("minimum", "maximum"), ("min", "max"),
    ("input", "output"), ("first", "second"), ("first", "last"), ("old", "new"), ("summer", "winter"),
    ("day", "night"), ("hot", "cold"), ("wet", "dry"), ("on", "off"), ("start", "stop"), ("open", "close"),
)


@dataclass
class Candidate:
    """One sentence of source ``n`` (1-based) and its similarity to the question."""

    n: int
    text: str
    score: float = 0.0


@dataclass
class Extract:
    """What the reader found: ``answer`` ("... [n]." or "I don't know."), the chosen ``candidate``
    (None when it abstained, with ``reason``), and the ranked ``ranked`` candidates it looked at."""

    answer: str
    candidate: Candidate | None = None
    reason: str | None = None
    ranked: list[Candidate] = field(default_factory=list)

    @property
    def abstained(self) -> bool:
        return self.candidate is None


def candidate_sentences(text: str) -> list[str]:
    """The sentences of one source that could be an answer.

    >>> candidate_sentences("# Charging\\nUse the KC-42 charger. It takes 3 h.\\nThe light shows:\\n- red: charging\\n- green: full")
    ['Use the KC-42 charger.', 'It takes 3 h.', 'The light shows: red: charging; green: full']
    """
    blocks: list[str] = []
    lead = False  # the last block is a lead-in ("The settings are:") collecting the list under it
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line or _HEADING.match(line):
            lead = False
            continue
        if _ITEM.match(line) and lead:
            item = _ITEM.sub("", line).rstrip(" ;.")
            blocks[-1] += (" " if blocks[-1].endswith(":") else "; ") + item
            continue
        blocks.append(_ITEM.sub("", line))
        lead = line.endswith(":")
    out = []
    for block in blocks:
        if block.endswith(":"):
            continue  # a lead-in with no list under it in this chunk
        for sentence in split_sentences(block)[0]:
            sentence = sentence.strip()
            if len(sentence.split()) >= 3 and not sentence.endswith(":"):
                out.append(sentence)
    return out


class ExtractiveReader:
    """Answers a question by copying the best sentence of the sources (see the module docstring).

    ``embedder``: ranks by cosine similarity (the retriever's, so nothing new is loaded); None ranks
    by word overlap. ``depth``: how many of the best-ranked sentences may be the answer.
    ``check_answer_type``: the answer must give the kind of fact the question asks for.
    """

    def __init__(self, embedder: Any = None, depth: int = 3, check_answer_type: bool = True,
                 cache_size: int = 4096):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"depth must be a positive integer, got {depth!r}")
        self.embedder, self.depth, self.check_answer_type = embedder, depth, check_answer_type
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _vectors(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, v in zip(missing, np.asarray(self.embedder.embed_documents(missing), dtype=np.float32)):
                self._cache[t] = v
        for t in texts:
            self._cache.move_to_end(t)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return np.stack([self._cache[t] for t in texts])

    def rank(self, question: str, sources: Sequence[str]) -> list[Candidate]:
        """Every candidate sentence of ``sources`` (numbered from 1), best first."""
        cands = [Candidate(n, s) for n, text in enumerate(sources, start=1) for s in candidate_sentences(text)]
        if not cands:
            return []
        if self.embedder is not None:
            q = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
            scores = self._vectors([c.text for c in cands]) @ q
        else:
            words = content_words(question)
            scores = [len(words & content_words(c.text)) / max(1, len(words)) for c in cands]
        for c, s in zip(cands, scores):
            c.score = float(s)
        return sorted(cands, key=lambda c: -c.score)  # stable: ties keep source order

    def read(self, question: str, sources: Sequence[str]) -> Extract:
        """The answer to ``question`` from ``sources`` (texts, numbered from 1), or "I don't know."."""
        ranked = self.rank(question, sources)
        if not ranked:
            return Extract("I don't know.", reason="the sources hold no sentence", ranked=ranked)
        kind = expected_answer_type(question) if self.check_answer_type else None
        asked = content_words(question)
        qwords = set(_WORD.findall(question.lower()))
        reasons = []
        for cand in ranked[: self.depth]:
            if kind is not None and not (kind.matches(cand.text) and (not kind.unit or kind.values(cand.text))):
                reasons.append(f"gives no {kind.name.split(' ', 1)[1]}")
                continue
            if not asked & content_words(cand.text):
                reasons.append("shares no word with the question")
                continue
            words = set(_WORD.findall(cand.text.lower()))
            other = next((f"is about the {b}, not the {a}" for x, y in CONTRASTS for a, b in ((x, y), (y, x))
                          if a in qwords and b in words and a not in words and b not in qwords), None)
            if other:
                reasons.append(other)
                continue
            body = cand.text.rstrip(" .;:!?")
            end = "?" if cand.text.endswith("?") else "!" if cand.text.endswith("!") else "."
            return Extract(f"{body} [{cand.n}]{end}", candidate=cand, ranked=ranked)
        why = "; ".join(f"{ORDINALS[i]} {r}" for i, r in enumerate(reasons))
        head = (f"none of the {len(reasons)} best sentences of the sources answers it" if len(reasons) > 1
                else "the best sentence of the sources does not answer it")
        return Extract("I don't know.", reason=f"{head} ({why})", ranked=ranked)
