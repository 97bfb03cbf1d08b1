"""Citation checks for RAG answers: parse [n] markers, drop invalid ones, check support.

The support rule (documented, deterministic):

- A sentence's *content words* are its lower-cased word tokens minus English
  stop words, with a light suffix stemmer (``tables`` -> ``table``, ``built`` stays)
  and one spelling for common US/UK pairs (``meters`` = ``metres``); numbers
  count as content words (facts are often numbers).
- ``overlap(sentence, source)`` = the share of the sentence's content words that
  also occur in the source. A sentence is **supported** by a source when
  ``overlap >= min_overlap`` (default 0.5), or, when an embedder is available
  (the retriever's), when ``cosine(sentence, source) >= min_similarity`` (default 0.75)
  — a paraphrase bar, kept high so a merely on-topic sentence does not pass.
- A cited sentence is supported when one of its cited sources supports it;
  otherwise it is *flagged*. A sentence without content words ("Sure!") is not checked.
- Fallback for uncited sentences (small models often forget to cite): the
  source with the highest overlap is attached as ``[n]`` when it supports the
  sentence; the check is marked ``inferred=True``. With no supporting source the
  sentence is flagged.

>>> checked = check_answer("Water boils at 100 degrees [1]. Ice is hot [3].", ["Water boils at 100 degrees."])
>>> checked.text, checked.removed
('Water boils at 100 degrees [1]. Ice is hot.', [3])
>>> [s.flagged for s in checked.sentences]
[False, True]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = [
    "CITATION", "SupportChecker", "SentenceCheck", "CheckedAnswer", "check_answer", "content_words", "split_sentences", "figures",
    "AnswerType", "ANSWER_TYPES", "expected_answer_type"]

_STOP = frozenset("""a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves one may might must shall us many much yes get got
according source sources answer question sure okay certainly thanks thank hello well indeed great""".split())

# [1]  [1, 2]  [1;2]  [Source 1]
_CITE = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*[,;]\s*(?:sources?\s*)?\d+)*)\s*\]", re.IGNORECASE)
#: the citation markers the checks read: [2], [1, 3], [source 2]
CITATION = _CITE
_MOVE = re.compile(r"([.!?])((?:\s*\[\s*(?:sources?\s*)?\d+(?:\s*[,;]\s*(?:sources?\s*)?\d+)*\s*\])+)", re.IGNORECASE)
_SPLIT = re.compile(r"((?<=[.!?])\s+|\n+)")
_WORD = re.compile(r"\w+", re.UNICODE)
_IDK = ("i don't know", "i do not know", "i dont know")


_SPELLING = (("meter", "metre"), ("liter", "litre"), ("center", "centre"), ("color", "colour"))


def _stem(w: str) -> str:
    w = _stem_suffix(w)
    for us, uk in _SPELLING:  # one spelling for the common US/UK pairs
        if w.endswith(us):
            return w[: -len(us)] + uk
    return w


def _stem_suffix(w: str) -> str:
    if w.isdigit() or len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ing") and len(w) > 5:
        return w[:-3]
    if w.endswith("ed") and len(w) > 4:
        return w[:-2]
    if w.endswith("es") and len(w) > 4 and w[-3] in "sxz":
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def content_words(text: str) -> set[str]:
    """Lower-cased, lightly stemmed words of ``text`` minus stop words (numbers kept)."""
    out = set()
    for w in _WORD.findall(_CITE.sub(" ", text.lower())):
        if w in _STOP or (len(w) < 3 and not w.isdigit()):
            continue
        out.add(_stem(w))
    return out


def split_sentences(text: str) -> tuple[list[str], list[str]]:
    """``(sentences, separators)``: ``text == s0 + sep0 + s1 + sep1 + ...``.

    Citations written after the full stop ("tall. [1]") are moved before it first.
    """
    text = _MOVE.sub(lambda m: m.group(2) + m.group(1), text)
    parts = _SPLIT.split(text)
    return parts[0::2], parts[1::2]


@dataclass
class SentenceCheck:
    """The check of one answer sentence: its citations, support, and whether they were inferred."""

    text: str
    citations: list[int] = field(default_factory=list)
    supported: bool | None = None  # None: not checked (no content words, or "I don't know")
    overlap: float = 0.0
    similarity: float | None = None
    inferred: bool = False
    #: citations the model wrote that did not support the sentence, replaced by the source that does
    corrected_from: list[int] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """True when the sentence was checked and no (cited) source supports it."""
        return self.supported is False


@dataclass
class CheckedAnswer:
    text: str
    sentences: list[SentenceCheck]
    cited: list[int]
    removed: list[int]


class SupportChecker:
    """Decides whether a source supports a sentence (see the module docstring for the rule).

    >>> SupportChecker().supports("Paris is the capital of France.", "The capital of France is Paris.")[0]
    True
    """

    def __init__(self, min_overlap: float = 0.5, embedder: Any = None, min_similarity: float = 0.75):
        if not 0.0 < min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
        self.min_overlap, self.embedder, self.min_similarity = min_overlap, embedder, min_similarity
        self._vec_cache: dict[str, np.ndarray] = {}

    def overlap(self, sentence: str, source: str) -> float:
        words = content_words(sentence)
        return len(words & content_words(source)) / len(words) if words else 0.0

    def similarity(self, sentence: str, source: str) -> float | None:
        if self.embedder is None:
            return None
        try:
            if source not in self._vec_cache:
                if len(self._vec_cache) > 256:
                    self._vec_cache.clear()
                self._vec_cache[source] = np.asarray(self.embedder.embed_documents([source])[0], dtype=np.float32)
            q = np.asarray(self.embedder.embed_query(_CITE.sub("", sentence)), dtype=np.float32)
        except Exception:  # the embedder is an optional second opinion; lexical overlap still decides
            return None
        return float(q @ self._vec_cache[source])

    def supports(self, sentence: str, source: str) -> tuple[bool, float, float | None]:
        """``(supported, overlap, similarity)``.

        A sentence that states a number the source does not contain is never
        supported (a small model's typical slip: the right sentence with a wrong
        or invented figure), whatever its word overlap.
        """
        if not figures(sentence) <= figures(source):
            return False, self.overlap(sentence, source), None
        ov = self.overlap(sentence, source)
        if ov >= self.min_overlap:
            return True, ov, None
        sim = self.similarity(sentence, source)
        return (sim is not None and sim >= self.min_similarity), ov, sim


_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


def figures(text: str) -> set[str]:
    """The numbers written in ``text``, normalised (``100,000`` -> ``100000``; ``1.5`` stays), citations ignored.

    >>> sorted(figures("It holds 100,000 records [2] and weighs 1.5 kg."))
    ['1.5', '100000']
    """
    out = set()
    for m in _FIGURE.finditer(_CITE.sub(" ", text)):
        tok = m.group(0)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", tok):
            tok = tok.replace(",", "")
        out.add(tok.replace(",", "."))
    return out


def _numbers(group: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", group)]


def check_answer(answer: str, sources: Sequence[str], checker: SupportChecker | None = None,
                 infer: bool = True) -> CheckedAnswer:
    """Remove invalid citations, check every sentence's support, infer missing citations."""
    checker = checker or SupportChecker()
    sentences, seps = split_sentences(answer.strip())
    removed: list[int] = []
    checks: list[SentenceCheck] = []
    out: list[str] = []
    for sent in sentences:
        cited: list[int] = []

        def fix(m: re.Match) -> str:
            nums = _numbers(m.group(1))
            good = [n for n in nums if 1 <= n <= len(sources)]
            removed.extend(n for n in nums if n not in good)
            cited.extend(n for n in good if n not in cited)
            if not good:
                return ""
            return m.group(0) if len(good) == len(nums) else "[" + ", ".join(map(str, good)) + "]"

        new = _CITE.sub(fix, sent)
        new = re.sub(r"\s+([.!?,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", new)).strip() if new != sent else new
        check = SentenceCheck(new, cited)
        plain = _CITE.sub("", new).strip()
        if content_words(plain) and not plain.lower().startswith(_IDK):
            if cited:
                results = [checker.supports(plain, sources[n - 1]) for n in cited]
                check.supported = any(r[0] for r in results)
                best = max(results, key=lambda r: r[1])
                check.overlap, check.similarity = best[1], best[2]
                if not check.supported and infer:  # a wrong source number: point it at the source that supports it
                    scores = [checker.supports(plain, src) for src in sources]
                    good = [i for i in range(len(sources)) if scores[i][0]]
                    if good:
                        n = max(good, key=lambda i: scores[i][1]) + 1
                        new = _CITE.sub("", new).rstrip()
                        m = re.search(r"[.!?]+$", new)
                        new = (new[: m.start()].rstrip() + f" [{n}]" + new[m.start():]) if m else new + f" [{n}]"
                        check = SentenceCheck(new, [n], True, scores[n - 1][1], scores[n - 1][2], corrected_from=cited)
            else:
                scores = [checker.supports(plain, src) for src in sources]
                best_i = max(range(len(sources)), key=lambda i: (scores[i][0], scores[i][1])) if sources else None
                if infer and best_i is not None and scores[best_i][0]:
                    n = best_i + 1
                    m = re.search(r"[.!?]+$", new)
                    new = (new[: m.start()] + f" [{n}]" + new[m.start():]) if m else new + f" [{n}]"
                    check = SentenceCheck(new, [n], True, scores[best_i][1], scores[best_i][2], inferred=True)
                else:
                    check.supported = False
                    if best_i is not None:
                        check.overlap, check.similarity = scores[best_i][1], scores[best_i][2]
        checks.append(check)
        out.append(new)
    text = "".join(s + (seps[i] if i < len(seps) else "") for i, s in enumerate(out)).strip()
    text = re.sub(r"[ \t]{2,}", " ", text)
    cited_all = sorted({n for c in checks for n in c.citations})
    return CheckedAnswer(text, checks, cited_all, removed)


# ---- expected answer type ------------------------------------------------
_NUMBER = (r"(?:\d|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
           r"forty|fifty|sixty|hundred|thousand|million|dozen|half|once|twice|single|double)\b)")


@dataclass(frozen=True)
class AnswerType:
    """What an answer to a question must contain: ``name`` ("a price"), ``cue`` (a regex that finds the
    question's ask) and ``pattern`` (a regex the answer must match)."""

    name: str
    cue: re.Pattern
    pattern: re.Pattern
    unit: bool = True  # the fact is a figure with a unit (a price, a weight...), not a bare number

    def matches(self, answer: str) -> bool:
        return bool(self.pattern.search(_CITE.sub(" ", answer)))

    def values(self, text: str) -> set[str]:
        """The figures in ``text`` written with this type's unit next to them ("EUR 14", "20%", "1.8 kg"),
        normalised as :func:`figures` does; empty for a type without a unit.

        >>> price = expected_answer_type("What does it cost?")
        >>> sorted(price.values("The Fold 20 costs EUR 1,299 [1]; it weighs 17 kg."))
        ['1299']
        """
        if not self.unit:
            return set()
        clean, out = _CITE.sub(" ", text), set()
        for m in _FIGURE.finditer(clean):
            after, before = clean[m.start():m.end() + 12], clean[max(0, m.start() - 6):m.start()]
            # the unit right after the figure ("20%", "1.8 kg") or right before it ("EUR 14", "$14")
            if any(u.start() <= m.end() - m.start() + 1 for u in self.pattern.finditer(after)) or \
                    any(u.end() >= len(before) - 1 for u in self.pattern.finditer(before)):
                out |= figures(m.group(0))
        return out


def _t(name: str, cue: str, pattern: str, unit: bool = True) -> AnswerType:
    return AnswerType(name, re.compile(cue, re.I), re.compile(pattern, re.I), unit)


#: checked in order; the first whose cue is found in the question decides. Each names the kind of fact
#: a question asks for in plain English, so it holds for any document set (no word of one manual).
ANSWER_TYPES: tuple[AnswerType, ...] = (
    _t("a price", r"\b(?:cost|costs|price|prices|priced|how much (?:do|does|did|will|would) (?:i|we|you|it|they) pay)\b",
       r"[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|dollars?|euros?|cents?|pence|pounds sterling|free of charge|free|"
       r"no charge|no cost)\b"),
    _t("a weight", r"\b(?:weigh|weighs|weight|how heavy|heaviest|lightest)\b",
       r"\d\s*(?:kg|g|mg|lbs?|oz|t)\b|\b(?:kilo(?:gram)?s?|grams?|pounds?|ounces?|tonnes?|tons?)\b"),
    # "how many extra temperature probes": a count, whatever noun follows (time units are durations, below)
    # ... unless the noun is a unit that a kind below names ("how many lux": a brightness)
    _t("a number", r"^\s*how many (?!(?:seconds|minutes|hours|days|weeks|months|years|lux|lumens|decibels|watts|volts|"
       r"pixels|degrees|percent)\b)", _NUMBER, unit=False),
    _t("a year", r"\b(?:what|which) year\b|\bwhat is the year\b",
       r"\b(?:1[5-9]\d\d|2[01]\d\d)\b", unit=False),
    _t("a phone number", r"\b(?:phone|telephone|hotline|fax) number\b|\bnumber (?:to|should i) call\b",
       r"\+?\d[\d\s().-]{5,}\d", unit=False),
    _t("a percentage", r"\bpercent\b|\bpercentage\b|%",
       r"%|\bper ?cent\b"),
    _t("a sound level", r"\bdecibels?\b|\bdb\b|\bhow loud\b",
       r"\bdb\b|\bdba\b|decibels?"),
    _t("a resolution", r"\bresolution\b|\bpixels?\b",
       r"\d\s*[x×]\s*\d|\bpixels?\b|\d\s*px\b|\b\d{3,4}p\b|\b[248]k\b|\b(?:hd|full hd|uhd|vga|qvga|svga|xga)\b"),
    _t("a brightness", r"\blux\b|\blumens?\b|\bhow bright\b",
       r"\blux\b|\blx\b|\blumens?\b|\blm\b|\bcandela\b|\bcd\b|\bnits?\b"),
    _t("a temperature", r"\btemperature\b|\bhow (?:hot|cold|warm)\b|\bdegrees\b",
       r"°|\bdegrees?\b|\b\d+\s*[cfk]\b|\bcelsius\b|\bfahrenheit\b|\bkelvin\b"),
    _t("a duration", r"\bhow long (?:does|do|did|will|would|can|should|must)\b.*\b(?:last|take|takes|run|runs|keep|"
       r"keeps|stay|stays|wait)\b|\bhow many (?:seconds|minutes|hours|days|weeks|months|years)\b|"
       r"\b(?:battery life|lifetime|life span|lifespan|duration)\b",
       r"\d\s*(?:s|h|ms|min)\b|\b(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|"
       r"milliseconds?|overnight|instantly|immediately)\b"),
    _t("a distance", r"\bhow far\b|\b(?:what|which) (?:is the )?(?:maximum |max |minimum |min )?distance\b",
       r"\d\s*(?:mm|cm|m|km|in|ft|mi|yd)\b|\b(?:millimet(?:re|er)s?|centimet(?:re|er)s?|met(?:re|er)s?|"
       r"kilomet(?:re|er)s?|inch(?:es)?|feet|foot|yards?|miles?)\b"),
    _t("a time of day", r"\bopening (?:hours|times)\b|\bbusiness hours\b|\bwhat time\b|\b(?:at )?what hour\b",
       r"\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.|h)\b|\bnoon\b|\bmidnight\b|\bo'clock\b|"
       r"\b(?:24/7|around the clock)\b", unit=False),
    _t("a frequency", r"\bhow (?:often|frequently)\b",
       r"\b(?:every|each|per|daily|weekly|monthly|yearly|annually|hourly|once|twice|times|always|never|"
       r"a (?:day|week|month|year)|an hour|seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b", unit=False),
    _t("a number", r"^\s*(?:how (?:many|much|long|far|tall|high|wide|deep|big|fast|old|large|small|heavy)|"
       r"(?:what|which) (?:is the )?(?:number|amount|quantity|count|size|length|width|height|depth|distance|"
       r"speed|capacity|range|voltage|power|torque|frequency|maximum|minimum|max|min)\b)",
       _NUMBER, unit=False),
)


def expected_answer_type(question: str) -> AnswerType | None:
    """The kind of fact ``question`` asks for, or None when it asks for none in particular.

    >>> expected_answer_type("How much does the console weigh?").name
    'a weight'
    >>> expected_answer_type("How many screws are in the box?").name
    'a number'
    >>> expected_answer_type("Who designed the frame?") is None
    True
    """
    for kind in ANSWER_TYPES:
        if kind.cue.search(question):
            return kind
    return None
