"""FewShot and every selector, with a deterministic fake embedder."""

from __future__ import annotations

import numpy as np
import pytest

from augment.errors import ConfigError, ContextLengthError, TemplateError
from augment.llm.fake import FakeLLM
from augment.prompts import (
    FewShot,
    FixedSelector,
    MMRSelector,
    PromptTemplate,
    RandomSelector,
    SemanticSelector,
    TokenBudgetSelector,
)

T = PromptTemplate([("system", "Label the sentiment."), ("user", "Review: {text}\nSentiment:")])
POOL = [
    {"text": "great movie", "label": "positive"},
    {"text": "awful plot", "label": "negative"},
    {"text": "great acting", "label": "positive"},
    {"text": "boring and awful", "label": "negative"},
    {"text": "nice soundtrack", "label": "positive"},
]
WORDS = ["great", "awful", "boring", "nice", "movie", "plot", "acting", "soundtrack", "music"]


def bag_embed(texts):
    """Deterministic fake embedder: bag of known words."""
    return np.array([[t.lower().split().count(w) + 1e-3 * i for i, w in enumerate(WORDS)] for t in texts], dtype=np.float32)


def test_zero_one_few_shot_chat_turns():
    assert FewShot(T, POOL, k=0, output="{label}").render(text="x") == T.render(text="x")
    one = FewShot(T, POOL, k=1, output="{label}").render(text="so great")
    assert [(m.role, m.content) for m in one] == [
        ("system", "Label the sentiment."),
        ("user", "Review: great movie\nSentiment:"), ("assistant", "positive"),
        ("user", "Review: so great\nSentiment:"),
    ]
    few = FewShot(T, POOL, k=3, output="{label}").render(text="so great")
    assert len(few) == 1 + 3 * 2 + 1 and few[-2].content == "positive"


def test_inline_mode():
    fs = FewShot(T, POOL, k=2, output="{label}", mode="inline")
    msgs = fs.render(text="meh")
    assert [m.role for m in msgs] == ["system", "user"]
    assert msgs[1].content == ("Review: great movie\nSentiment: positive\n\nReview: awful plot\nSentiment: negative\n\n"
                               "Review: meh\nSentiment:")


def test_fixed_and_seeded_random():
    assert FixedSelector().select(POOL, {"text": "q"}, 2) == POOL[:2]
    a = FewShot(T, POOL, k=3, selector="random", seed=7, output="{label}")
    b = FewShot(T, POOL, k=3, selector=RandomSelector(seed=7), output="{label}")
    assert a.select(text="q1") == b.select(text="q1")
    picks = {tuple(e["text"] for e in a.select(text=f"query {i}")) for i in range(12)}
    assert len(picks) > 1  # varies with the query, reproducibly
    other = [tuple(e["text"] for e in RandomSelector(seed=8).select(POOL, {"text": f"query {i}"}, 3)) for i in range(12)]
    assert set(other) != picks or len(picks) > 1


def test_semantic_selector_most_similar_first():
    fs = FewShot(T, POOL, k=2, selector="semantic", embed=bag_embed, output="{label}")
    assert [e["text"] for e in fs.select(text="boring awful")] == ["boring and awful", "awful plot"]

    class EmbedderLike:
        def embed_documents(self, texts):
            return bag_embed(texts)

    sel = SemanticSelector(EmbedderLike())
    assert sel.select(POOL, {"text": "nice soundtrack"}, 1) == [POOL[4]]
    with pytest.raises(ConfigError, match="embed"):
        FewShot(T, POOL, k=2, selector="semantic", output="{label}")


def test_mmr_prefers_diverse_examples():
    pool = [{"text": "great movie"}, {"text": "great movie"}, {"text": "great acting"}, {"text": "awful plot"}]
    relevance_only = MMRSelector(bag_embed, lam=1.0).select(pool, {"text": "great movie"}, 2)
    assert relevance_only == [pool[0], pool[1]]  # the duplicate
    diverse = MMRSelector(bag_embed, lam=0.3).select(pool, {"text": "great movie"}, 2)
    assert diverse[0] == pool[0] and diverse[1] is not pool[1] and diverse[1]["text"] != "great movie"
    with pytest.raises(ConfigError):
        MMRSelector(bag_embed, lam=2)


def test_token_budget_drops_examples_that_do_not_fit():
    words = lambda s: len(s.split())  # noqa: E731 - a "tokenizer"
    full = FewShot(T, POOL, k=4, output="{label}")
    n_full = words("\n".join(m.content for m in full.render(text="ok")))
    sel = TokenBudgetSelector(FixedSelector(), count_tokens=words, max_prompt_tokens=n_full - 1)
    fs = FewShot(T, POOL, k=4, selector=sel, output="{label}")
    msgs = fs.render(text="ok")
    assert len(fs.last_examples) == 3 and sel.last_dropped == 1
    assert words("\n".join(m.content for m in msgs)) <= n_full - 1
    # the llm's own counter and context window: window 2048 (FakeLLM) minus reserve
    llm = FakeLLM(context_window=80)
    sel2 = TokenBudgetSelector(llm=llm, reserve=10)
    assert sel2.max_prompt_tokens == 70
    fs2 = FewShot(T, POOL, k=5, selector=sel2, output="{label}")
    fs2.render(text="ok")
    assert 0 < len(fs2.last_examples) < 5
    with pytest.raises(ContextLengthError, match="without any example"):
        FewShot(T, POOL, k=2, selector=TokenBudgetSelector(count_tokens=words, max_prompt_tokens=3), output="{label}").render(text="a b c d e")
    with pytest.raises(ConfigError):
        TokenBudgetSelector()


def test_bad_input_errors():
    with pytest.raises(TemplateError, match=r"example 1 is missing field 'label'"):
        FewShot(T, [POOL[0], {"text": "no label"}], k=1, output="{label}")
    with pytest.raises(TemplateError, match=r"example 0 is missing field 'text'"):
        FewShot(T, [{"label": "x"}], k=1, output="{label}")
    with pytest.raises(ConfigError, match="larger than the example pool"):
        FewShot(T, POOL, k=6, output="{label}")
    with pytest.raises(ConfigError, match="pool is empty"):
        FewShot(T, [], k=1)
    assert FewShot(T, [], k=0).render(text="x") == T.render(text="x")  # empty pool is fine zero-shot
    with pytest.raises(ConfigError, match="unknown selector"):
        FewShot(T, POOL, k=1, selector="best", output="{label}")
    with pytest.raises(TemplateError, match="missing variable 'text'"):
        FewShot(T, POOL, k=1, output="{label}").render()


def test_semantic_selector_with_real_embedder(default_embedder):
    pool = [{"text": "The pasta was delicious and the waiter friendly.", "label": "positive"},
            {"text": "The laptop battery died after an hour.", "label": "negative"},
            {"text": "A thrilling movie with a great cast.", "label": "positive"}]
    fs = FewShot(T, pool, k=1, selector="semantic", embed=default_embedder, output="{label}")
    assert fs.select(text="My phone's battery drains far too fast.") == [pool[1]]
    assert fs.select(text="Wonderful actors and an exciting film.") == [pool[2]]
