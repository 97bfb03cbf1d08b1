"""Example selectors for few-shot prompts.

A selector picks ``k`` examples from a pool for one query. Implement
:meth:`ExampleSelector.select`; ``render`` (given by :class:`~augment.prompts.FewShot`)
renders the full prompt for a candidate list of examples, which budget-aware
selectors use to measure it.

>>> from augment.prompts.selectors import RandomSelector
>>> pool = [{"q": str(i)} for i in range(10)]
>>> a = RandomSelector(seed=1).select(pool, {"q": "x"}, 3)
>>> a == RandomSelector(seed=1).select(pool, {"q": "x"}, 3)
True
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

import numpy as np

from augment.errors import ConfigError, ContextLengthError
from augment.types import Message

__all__ = [
    "ExampleSelector",
    "FixedSelector",
    "RandomSelector",
    "SemanticSelector",
    "MMRSelector",
    "TokenBudgetSelector",
    "BalancedSelector",
    "get_selector",
]

Example = dict[str, Any]
RenderFn = Callable[[list[Example]], list[Message]]
EmbedFn = Callable[[list[str]], Any]


def _text(values: dict[str, Any], keys: Sequence[str] | None) -> str:
    keys = list(keys) if keys else sorted(values)
    return "\n".join(str(values[k]) for k in keys if k in values)


class ExampleSelector:
    """Base class: choose up to ``k`` examples of ``examples`` for the variables ``query``."""

    def select(self, examples: list[Example], query: dict[str, Any], k: int, render: RenderFn | None = None) -> list[Example]:
        raise NotImplementedError

    __call__ = select


class FixedSelector(ExampleSelector):
    """The first ``k`` examples, in the order given (the same for every query).

    >>> FixedSelector().select([{"a": 1}, {"a": 2}, {"a": 3}], {}, 2)
    [{'a': 1}, {'a': 2}]
    """

    def select(self, examples, query, k, render=None):
        return list(examples[:k])


class RandomSelector(ExampleSelector):
    """``k`` examples drawn at random, reproducibly: the draw depends only on ``seed`` and the query.

    >>> RandomSelector(seed=0).select([{"a": i} for i in range(5)], {"x": "hi"}, 2)  # doctest: +SKIP
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def select(self, examples, query, k, render=None):
        rng = random.Random(f"{self.seed}:{_text(query, None)}")
        return rng.sample(list(examples), k)


class _EmbeddingSelector(ExampleSelector):
    """Shared part of similarity selectors: embeds the pool once (cached) and the query per call."""

    def __init__(self, embed: Any, input_keys: Sequence[str] | None = None):
        if hasattr(embed, "embed_documents"):
            embed = embed.embed_documents
        if not callable(embed):
            raise ConfigError("embed must be a callable texts -> vectors or an object with embed_documents (augment Embedder)")
        self.embed: EmbedFn = embed
        self.input_keys = list(input_keys) if input_keys else None
        self._cache: tuple[int, list[Example], np.ndarray] | None = None

    def _vectors(self, texts: list[str]) -> np.ndarray:
        v = np.asarray(self.embed(texts), dtype=np.float32)
        if v.ndim != 2 or v.shape[0] != len(texts):
            raise ConfigError(f"the embedder returned shape {v.shape} for {len(texts)} texts; it must return one vector per text")
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(norms == 0, 1.0, norms)

    def _pool(self, examples: list[Example], query: dict[str, Any]) -> np.ndarray:
        keys = self.input_keys or sorted(query)
        if self._cache is None or self._cache[0] != id(examples) or len(self._cache[1]) != len(examples):
            self._cache = (id(examples), examples, self._vectors([_text(e, keys) for e in examples]))
        return self._cache[2]

    def _query(self, query: dict[str, Any]) -> np.ndarray:
        return self._vectors([_text(query, self.input_keys)])[0]


class SemanticSelector(_EmbeddingSelector):
    """The ``k`` examples most similar to the query (cosine of embeddings), most similar first.

    ``embed`` is an augment ``Embedder`` or any callable ``list[str] -> vectors``;
    ``input_keys`` are the fields compared (default: the query's variables).

    >>> fake = lambda texts: [[len(t), 1.0] for t in texts]
    >>> SemanticSelector(fake).select([{"t": "aaaa"}, {"t": "a"}], {"t": "b"}, 1)
    [{'t': 'a'}]
    """

    def select(self, examples, query, k, render=None):
        if k == 0:
            return []
        sims = self._pool(examples, query) @ self._query(query)
        order = np.argsort(-sims, kind="stable")[:k]
        return [examples[i] for i in order]


class MMRSelector(_EmbeddingSelector):
    """Maximal marginal relevance: relevant to the query yet unlike each other.

    Each pick maximises ``lam * sim(query, e) - (1 - lam) * max sim(e, chosen)``;
    ``lam=1`` is plain similarity, lower values favour diversity.

    >>> fake = lambda texts: [[t.count("a"), t.count("b"), 0.1] for t in texts]
    >>> pool = [{"t": "aa"}, {"t": "aa"}, {"t": "bb"}]
    >>> [e["t"] for e in MMRSelector(fake, lam=0.3).select(pool, {"t": "a"}, 2)]
    ['aa', 'bb']
    """

    def __init__(self, embed: Any, input_keys: Sequence[str] | None = None, lam: float = 0.5):
        super().__init__(embed, input_keys)
        if not 0.0 <= lam <= 1.0:
            raise ConfigError(f"lam={lam} must be between 0 and 1 (1 = only relevance, 0 = only diversity)")
        self.lam = lam

    def select(self, examples, query, k, render=None):
        if k == 0:
            return []
        pool = self._pool(examples, query)
        rel = pool @ self._query(query)
        chosen: list[int] = []
        while len(chosen) < k:
            if chosen:
                red = (pool @ pool[chosen].T).max(axis=1)
            else:
                red = np.zeros(len(examples), dtype=np.float32)
            score = self.lam * rel - (1 - self.lam) * red
            score[chosen] = -np.inf
            chosen.append(int(np.argmax(score)))
        return [examples[i] for i in chosen]


class TokenBudgetSelector(ExampleSelector):
    """Wraps a selector and drops its last-ranked examples until the prompt fits the token budget.

    The budget is ``max_prompt_tokens``, or ``llm.context_window - reserve`` (room
    left for the answer). Tokens are counted on the exact rendered prompt with
    ``llm.render_prompt`` + ``llm.count_tokens``, or with ``count_tokens`` (any
    ``str -> int``, e.g. a tokenizer) on the messages' text. If even the prompt
    without examples does not fit, :class:`~augment.errors.ContextLengthError`.

    >>> sel = TokenBudgetSelector(FixedSelector(), count_tokens=lambda s: len(s.split()), max_prompt_tokens=6)
    >>> render = lambda exs: [Message.user(" ".join(e["t"] for e in exs) + " query")]
    >>> sel.select([{"t": "one two"}, {"t": "three four five"}, {"t": "six"}], {}, 3, render)
    [{'t': 'one two'}, {'t': 'three four five'}]
    """

    def __init__(
        self,
        inner: ExampleSelector | None = None,
        *,
        llm: Any = None,
        count_tokens: Callable[[str], int] | None = None,
        max_prompt_tokens: int | None = None,
        reserve: int = 256,
    ):
        self.inner = inner or FixedSelector()
        if llm is None and count_tokens is None:
            raise ConfigError("TokenBudgetSelector needs llm= (uses llm.count_tokens) or count_tokens= (a str -> int callable)")
        if max_prompt_tokens is None:
            window = getattr(llm, "context_window", None)
            if not window:
                raise ConfigError("give max_prompt_tokens=: the model's context window is unknown")
            max_prompt_tokens = int(window) - reserve
        if max_prompt_tokens <= 0:
            raise ConfigError(f"the token budget is {max_prompt_tokens}; raise max_prompt_tokens or lower reserve")
        self.llm = llm
        self.count_tokens = count_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.last_dropped = 0  # how many examples the last select() dropped

    def measure(self, messages: list[Message]) -> int:
        """Tokens of the rendered prompt."""
        if self.count_tokens is not None:
            return int(self.count_tokens("\n".join(m.content for m in messages)))
        return int(self.llm.count_tokens(self.llm.render_prompt(messages)))

    def select(self, examples, query, k, render=None):
        if render is None:
            raise ConfigError("TokenBudgetSelector measures the rendered prompt; use it inside FewShot(selector=...)")
        chosen = list(self.inner.select(examples, query, k, render))
        n0 = len(chosen)
        while True:
            used = self.measure(render(chosen))
            if used <= self.max_prompt_tokens:
                break
            if not chosen:
                raise ContextLengthError(
                    f"the prompt needs {used} tokens without any example, over the budget of {self.max_prompt_tokens}; "
                    "shorten the input or raise max_prompt_tokens"
                )
            chosen.pop()
        self.last_dropped = n0 - len(chosen)
        return chosen


class BalancedSelector(ExampleSelector):
    """The same number of examples for every label, drawn and ordered by ``seed`` (the same for every query).

    ``k`` examples split evenly over the labels found in ``label_key`` (when
    ``k`` is not a multiple of the number of labels, the extra shots go to
    labels picked by the seed); the chosen examples are shuffled so no label
    always comes last. Balanced, fixed shots keep few-shot classification from
    copying the majority or the last label, and let contextual calibration
    (:class:`~augment.prompts.Classifier`) estimate the prior once.

    >>> pool = [{"text": str(i), "label": "pos" if i % 3 else "neg"} for i in range(9)]
    >>> sorted(ex["label"] for ex in BalancedSelector(seed=1).select(pool, {}, 4))
    ['neg', 'neg', 'pos', 'pos']
    """

    def __init__(self, label_key: str = "label", seed: int = 0):
        self.label_key = label_key
        self.seed = seed

    def select(self, examples, query, k, render=None):
        groups: dict[str, list[Example]] = {}
        for i, ex in enumerate(examples):
            if self.label_key not in ex:
                raise ConfigError(f"example {i} has no {self.label_key!r} field; BalancedSelector(label_key=...) names the label field")
            groups.setdefault(str(ex[self.label_key]), []).append(ex)
        rng = random.Random(self.seed)
        labels = list(groups)
        extra = set(rng.sample(labels, k % len(labels))) if labels else set()
        chosen: list[Example] = []
        for label in labels:
            want = k // len(labels) + (1 if label in extra else 0)
            if want > len(groups[label]):
                raise ConfigError(
                    f"BalancedSelector needs {want} examples labelled {label!r} for k={k}, the pool has "
                    f"{len(groups[label])}; add examples or lower k"
                )
            chosen += rng.sample(groups[label], want)
        rng.shuffle(chosen)
        return chosen


def get_selector(selector: str | ExampleSelector | None, *, seed: int = 0, embed: Any = None) -> ExampleSelector:
    """A selector from a name ("fixed", "random", "balanced", "semantic", "mmr") or an instance."""
    if selector is None or selector == "fixed":
        return FixedSelector()
    if isinstance(selector, ExampleSelector):
        return selector
    if selector == "random":
        return RandomSelector(seed)
    if selector == "balanced":
        return BalancedSelector(seed=seed)
    if selector in ("semantic", "mmr"):
        if embed is None:
            raise ConfigError(f"selector={selector!r} needs embed= (an augment Embedder or a texts -> vectors callable)")
        return SemanticSelector(embed) if selector == "semantic" else MMRSelector(embed)
    raise ConfigError(f"unknown selector {selector!r}; use 'fixed', 'random', 'balanced', 'semantic', 'mmr' or an ExampleSelector")
