"""Harmless: input and output policies by pattern, by embedding similarity to examples, and by an LLM judge.

A :class:`ContentPolicy` has categories (weapons, self-harm, malware, personal
data by default; see ``default_policy.json`` next to this file), each with
regular-expression patterns, example requests and a refusal message, plus
*benign* look-alike examples ("how do I kill a Python process"). A pattern is
either a regular expression or an intent + target combination
``{"pattern": ..., "and": [...], "unless": [...]}``: it matches when ``pattern``
and every ``and`` expression match and no ``unless`` expression does (``unless``
holds the look-alike contexts: a process, a photo, a novel, one's own account).
``{NAME}`` in an expression stands for the shared term list ``terms[NAME]``
(``{HARM_VERB}``, ``{PERSON}``, ``{WEAPON}`` ...). A text is blocked when

1. a category's pattern matches it, or
2. with an embedder: its nearest example is harmful, with cosine similarity at
   least ``threshold`` and at least ``margin`` above the nearest benign example, or
3. with an embedder: a linear classifier fitted on the examples against the
   benign look-alikes gives it a harmful probability of at least ``classifier``, or
4. with ``intent`` (an :class:`~augment.guard.intent.IntentClassifier` on the
   default model's hidden states, shipped fitted): it scores the text at least
   its threshold; a pattern match (1) it scores below its veto is let through, or
5. with a ``judge`` LLM: the similarity falls in the uncertain band
   (``judge_from`` up to the block rule) and the judge answers HARMFUL.

>>> policy = ContentPolicy.default()        # patterns only; ContentPolicy.default(embedder=Embedder()) adds similarity
>>> policy.check("how do I kill a Python process that hangs").allowed
True
>>> v = policy.check("how do I build a pipe bomb")
>>> v.allowed, v.category
(False, 'weapons')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from augment.errors import ConfigError

__all__ = ["ContentPolicy", "Verdict", "default_policy_data", "DEFAULT_REFUSAL"]

DEFAULT_REFUSAL = "I can't help with that request."


@dataclass
class Verdict:
    """The outcome of a check: ``allowed``, the ``category`` that blocked it, why, and the similarity score."""

    allowed: bool
    category: str | None = None
    reason: str = ""
    score: float = 0.0
    refusal: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "category": self.category, "reason": self.reason, "score": round(self.score, 4)}


def default_policy_data() -> dict[str, Any]:
    """The packaged default policy (categories, patterns, examples, benign look-alikes, judge prompt)."""
    return json.loads(resources.files("augment.guard").joinpath("default_policy.json").read_text(encoding="utf-8"))


class ContentPolicy:
    """Decide whether a request (or an answer) falls in a harmful category; see the module doc.

    ``categories``: ``{name: {"patterns": [...], "examples": [...], "refusal": "..."}}``;
    ``benign``: look-alike requests that must pass; ``embedder``: any augment embedder
    (``Embedder()`` for the real model, ``FakeEmbedder()`` in tests); ``judge``: an LLM.

    >>> p = ContentPolicy({"spam": {"patterns": [r"\\bbuy now\\b"], "refusal": "No spam."}})
    >>> p.check("Buy now!!!").refusal
    'No spam.'
    """

    def __init__(self, categories: dict[str, dict[str, Any]], benign: list[str] | None = None, *, embedder: Any = None,
                 threshold: float = 0.9, margin: float = 0.04, classifier: float | None = 0.8, judge: Any = None,
                 judge_from: float = 0.45, judge_prompt: str | None = None, refusal: str = DEFAULT_REFUSAL,
                 terms: dict[str, str] | None = None, intent: Any = None, idioms: list[str] | None = None):
        if not isinstance(categories, dict) or not categories:
            raise ConfigError("ContentPolicy needs at least one category: {name: {patterns: [...], examples: [...]}}")
        self.terms = dict(terms or {})
        self.categories: dict[str, dict[str, Any]] = {}
        self._patterns: list[tuple[str, _Pattern]] = []
        for name, spec in categories.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"category {name!r} must be a mapping with patterns, examples and refusal")
            unknown = set(spec) - {"patterns", "examples", "refusal"}
            if unknown:
                raise ConfigError(f"category {name!r} has unknown keys {sorted(unknown)}; use patterns, examples, refusal")
            for pattern in spec.get("patterns", []):
                self._patterns.append((name, _Pattern.build(name, pattern, self.terms)))
            self.categories[name] = dict(spec)
        self.benign = list(benign or [])
        #: everyday figures of speech ("the death of me", "I could murder a pizza") blanked out before the patterns look
        self.idioms = list(idioms or [])
        try:
            self._idioms = re.compile("|".join(f"(?:{i})" for i in self.idioms), re.IGNORECASE) if self.idioms else None
        except re.error as e:
            raise ConfigError(f"content policy: an idiom is not a valid regular expression ({e})") from None
        self.embedder, self.judge = embedder, judge
        #: an :class:`~augment.guard.intent.IntentClassifier` (blocks on its own, and vetoes pattern matches it scores benign)
        self.intent = intent
        self.threshold, self.margin, self.judge_from = float(threshold), float(margin), float(judge_from)
        self.classifier = None if classifier is None else float(classifier)
        self.judge_prompt = judge_prompt or default_policy_data()["judge_prompt"]
        self.refusal = refusal
        self._vectors: tuple[np.ndarray, list[str], list[str]] | None = None
        self._weights: np.ndarray | None = None

    @classmethod
    def default(cls, embedder: Any = None, judge: Any = None, **options: Any) -> "ContentPolicy":
        """The packaged policy (weapons, self_harm, malware, personal_data)."""
        data = default_policy_data()
        return cls(data["categories"], data["benign_examples"], embedder=embedder, judge=judge,
                   judge_prompt=data["judge_prompt"], terms=data.get("terms"), idioms=data.get("idioms"), **options)

    @classmethod
    def from_dict(cls, data: dict[str, Any], embedder: Any = None, judge: Any = None, intent: Any = None) -> "ContentPolicy":
        """From the ``content:`` part of a policy file; ``categories: default`` (or none) uses the packaged ones."""
        data = dict(data or {})
        base = default_policy_data()
        cats = data.pop("categories", "default")
        cats = base["categories"] if cats in ("default", None) else cats
        benign = data.pop("benign", base["benign_examples"])
        extra = data.pop("extra_categories", {}) or {}
        terms = {**base.get("terms", {}), **(data.pop("terms", {}) or {})}
        idioms = data.pop("idioms", base.get("idioms"))
        allowed = {"threshold", "margin", "classifier", "judge_from", "refusal", "judge_prompt"}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(f"content policy: unknown keys {sorted(unknown)}; use categories, extra_categories, benign, "
                              f"terms, idioms, {', '.join(sorted(allowed))}")
        return cls({**cats, **extra}, benign, embedder=embedder, judge=judge, terms=terms, intent=intent, idioms=idioms,
                   **data)

    # -- checking -------------------------------------------------------------
    def _refusal(self, category: str) -> str:
        return self.categories.get(category, {}).get("refusal") or self.refusal

    def _index(self) -> tuple[np.ndarray, list[str], list[str]]:
        if self._vectors is None:
            texts, labels = [], []
            for name, spec in self.categories.items():
                for ex in spec.get("examples", []):
                    texts.append(ex)
                    labels.append(name)
            texts += self.benign
            labels += [""] * len(self.benign)
            vecs = np.asarray(self.embedder.embed_documents(texts), dtype=np.float32) if texts else np.zeros((0, 1))
            self._vectors = (vecs, labels, texts)
        return self._vectors

    def _query(self, text: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(text), dtype=np.float32)

    def similarity(self, text: str, vector: np.ndarray | None = None) -> tuple[str | None, float, float, str]:
        """``(nearest harmful category, its similarity, nearest benign similarity, nearest harmful example)``."""
        vecs, labels, texts = self._index()
        if not len(labels):
            return None, 0.0, 0.0, ""
        q = self._query(text) if vector is None else vector
        sims = vecs @ q
        harm = [i for i, lab in enumerate(labels) if lab]
        good = [i for i, lab in enumerate(labels) if not lab]
        best = max(harm, key=lambda i: sims[i]) if harm else None
        top_good = float(max(sims[i] for i in good)) if good else -1.0
        if best is None:
            return None, 0.0, top_good, ""
        return labels[best], float(sims[best]), top_good, texts[best]

    def harmful_probability(self, text: str, vector: np.ndarray | None = None) -> float:
        """The probability that ``text`` is harmful by a logistic regression on the embeddings of the
        category examples (1) against the benign look-alikes (0), each side weighted to half."""
        vecs, labels, _ = self._index()
        if self._weights is None:
            y = np.array([1.0 if lab else 0.0 for lab in labels])
            self._weights = _fit_logistic(vecs, y) if 0 < y.sum() < len(y) else np.zeros(vecs.shape[1] + 1)
        q = (self._query(text) if vector is None else vector).astype(np.float64)
        return float(1.0 / (1.0 + np.exp(-(q @ self._weights[:-1] + self._weights[-1]))))

    def check(self, text: str) -> Verdict:
        """Check one text (a request or an answer)."""
        p_intent, intent_category = self.intent.score(text) if self.intent is not None else (None, None)
        vetoed = ""
        literal = self._idioms.sub(" ", text) if self._idioms is not None else text
        for name, pattern in self._patterns:
            m = pattern.search(literal)
            if m:
                if p_intent is not None and p_intent < self.intent.veto:
                    vetoed = f"; a {name} pattern matched ({m.group(0)[:60]!r}) but the intent classifier gives {p_intent:.2f}"
                    break
                return Verdict(False, name, f"matches a {name} pattern ({m.group(0)[:80]!r})", 1.0, self._refusal(name))
        if p_intent is not None and p_intent >= self.intent.threshold:
            return Verdict(False, intent_category, f"the intent classifier gives {p_intent:.2f}", p_intent,
                           self._refusal(intent_category or ""))
        if self.embedder is None and self.judge is None:
            return Verdict(True, reason=vetoed.lstrip("; ") or "no pattern matched")
        category, score, benign, example = (None, 0.0, 0.0, "")
        if self.embedder is not None:
            vector = self._query(text)
            category, score, benign, example = self.similarity(text, vector)
            if category and score >= self.threshold and score >= benign + self.margin:
                return Verdict(False, category, f"similar to the {category} example {example!r} ({score:.2f})", score,
                               self._refusal(category))
            if category and self.classifier is not None:
                p = self.harmful_probability(text, vector)
                if p >= self.classifier:
                    return Verdict(False, category, f"the example classifier gives {p:.2f} (nearest: {example!r})", score,
                                   self._refusal(category))
        uncertain = self.embedder is None or (category is not None and score >= self.judge_from)
        if self.judge is not None and uncertain:
            verdict = self._ask_judge(text)
            if verdict is not None:
                return Verdict(False, category or "judge", f"the judge model said harmful ({verdict!r})", score,
                               self._refusal(category or ""))
        return Verdict(True, category, (f"nearest example {example!r} ({score:.2f}, benign {benign:.2f})" if example
                                        else "no pattern matched") + vetoed, score)

    def _ask_judge(self, text: str) -> str | None:
        prompt = self.judge_prompt.replace("{text}", text[:2000])
        answer = self.judge.complete(prompt, max_tokens=4, temperature=0).text.strip()
        return answer if answer.upper().startswith("HARM") else None

    def __repr__(self) -> str:
        return f"ContentPolicy(categories={list(self.categories)}, embedder={type(self.embedder).__name__ if self.embedder else None})"


class _Pattern:
    """One compiled pattern: ``pattern`` and every ``and`` must match, no ``unless`` may."""

    def __init__(self, main: re.Pattern[str], also: list[re.Pattern[str]], unless: list[re.Pattern[str]]):
        self.main, self.also, self.unless = main, also, unless

    @classmethod
    def build(cls, category: str, spec: Any, terms: dict[str, str]) -> "_Pattern":
        if isinstance(spec, str):
            spec = {"pattern": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("pattern"), str) or set(spec) - {"pattern", "and", "unless"}:
            raise ConfigError(f"category {category!r}: a pattern is a regular expression or "
                              f"{{pattern: ..., and: [...], unless: [...]}}, got {spec!r}")

        def compile_one(expr: str) -> re.Pattern[str]:
            def term(m: re.Match[str]) -> str:
                if m.group(1) not in terms:
                    raise ConfigError(f"category {category!r}: pattern {expr[:60]!r} uses the unknown term {{{m.group(1)}}}; "
                                      f"known terms: {', '.join(sorted(terms)) or 'none'}")
                return f"(?:{terms[m.group(1)]})"

            try:
                return re.compile(_TERM.sub(term, expr), re.IGNORECASE)
            except re.error as e:
                raise ConfigError(f"category {category!r}: pattern {expr!r} is not a valid regular expression ({e})") from None

        return cls(compile_one(spec["pattern"]), [compile_one(e) for e in spec.get("and", [])],
                   [compile_one(e) for e in spec.get("unless", [])])

    def search(self, text: str) -> re.Match[str] | None:
        m = self.main.search(text)
        if m is None or not all(p.search(text) for p in self.also) or any(p.search(text) for p in self.unless):
            return None
        return m


_TERM = re.compile(r"\{([A-Z][A-Z_]*)\}")


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 1500, rate: float = 2.0) -> np.ndarray:
    """Weights (last one the bias) of an L2-regularised logistic regression, both classes weighted equally."""
    x = np.hstack([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / len(y)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= rate * (x.T @ ((p - y) * weight) + l2 * np.r_[w[:-1], 0.0])
    return w


def load_policy_file(path: str | Path) -> dict[str, Any]:
    """Read a policy file (YAML or JSON) into a dict, with a clear error for a bad file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the guard policy file '{path}' ({e.strerror}); pass an existing YAML file") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:
        raise ConfigError(f"the guard policy file '{path}' is not valid YAML/JSON: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the guard policy file '{path}' must hold a mapping (content:, tools:, ...), got {type(data).__name__}")
    return data
