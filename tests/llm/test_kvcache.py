"""Prefix KV-cache reuse: same greedy tokens and logits with and without it, across adapters and batch rows.

Mostly on a tiny random Llama with the SmolLM2 tokenizer (fast); one short check on the real default model
with constrained decoding.
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import make_lora, smol_tokenizer_dir, tiny_llama, tiny_llama_dir  # noqa: F401 (fixtures)

from augment.errors import ConfigError
from augment.llm.base import GenerateOptions
from augment.llm.kvcache import PrefixCache, common_prefix_length
from augment.llm.loader import load_llm

SYSTEM = "You are a careful assistant. Answer in one short sentence. " * 4
TURN1 = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Tell me about dragons."}]
TURN2 = TURN1 + [{"role": "assistant", "content": "Dragons breathe fire."}, {"role": "user", "content": "And elves?"}]
N = 8


class Recorder:
    """A logits processor that keeps the raw scores of every step (first in the list: before any change)."""

    def __init__(self):
        self.scores = []

    def __call__(self, input_ids, scores):
        self.scores.append(scores.detach().clone())
        return scores


def run(llm, prompt, **options):
    rec = Recorder()
    gen = llm._generate_ids([llm.render_prompt(prompt)], GenerateOptions.build(max_tokens=N, **options),
                            logits_processor=[rec])[0]
    return gen.ids, torch.stack(rec.scores)


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("kv-adapters")
    a = make_lora(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), root / "a", seed=1)
    b = make_lora(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), root / "b", seed=2, targets=("o_proj",))
    llm = load_llm(str(tiny_llama_dir), dtype="float32", adapter={"a": a})
    llm.load_adapter(b, "b", activate=False)
    llm.set_adapter(None)
    return llm


def test_same_tokens_and_logits_with_and_without_the_cache_across_adapters(tiny):
    cache = tiny.prefix_cache
    assert isinstance(cache, PrefixCache)  # on by default
    plan = [(TURN1, None), (TURN2, None), (TURN1, "a"), (TURN2, "a"), (TURN2, "b"), (TURN2, None), (TURN2, "a")]
    tiny.prefix_cache = None
    expected = [run(tiny, p, adapter=ad) for p, ad in plan]
    tiny.prefix_cache = cache
    cache.clear()
    before = cache.stats()
    got = [run(tiny, p, adapter=ad) for p, ad in plan]
    for (ids_e, logits_e), (ids_g, logits_g), (_, ad) in zip(expected, got, plan):
        assert ids_g == ids_e, ad
        assert logits_g.shape == logits_e.shape
        assert torch.allclose(logits_g, logits_e, atol=1e-4, rtol=0), (ad, (logits_g - logits_e).abs().max())
    # the adapters really change the output, so a cache shared between them would have shown
    assert len({tuple(i) for i, _ in expected[3:6]}) == 3
    stats = cache.stats()
    # hits: TURN2 after TURN1 (base), TURN2 after TURN1 (a), TURN2 again (base, a); misses: first of each adapter
    assert stats["hits"] - before["hits"] == 4 and stats["misses"] - before["misses"] == 3
    assert stats["reused_tokens"] > stats["computed_tokens"] / 3


def test_block_schedule_is_bit_identical_and_reuses_at_its_boundaries(tiny):
    from augment.errors import ConfigError
    from augment.llm.kvcache import block_ends

    tiny.set_adapter(None)
    cache, saved = tiny.prefix_cache, tiny.prefill_block
    try:
        tiny.prefill_block = (8, 8, 16, 32)  # small blocks first, then larger ones (the default: 64 x 4, then 256)
        tiny.prefix_cache = None
        expected = [run(tiny, p) for p in (TURN1, TURN2)]
        tiny.prefix_cache = cache
        cache.clear()
        hits = cache.stats()["hits"]
        got = [run(tiny, p) for p in (TURN1, TURN2)]
        for (ids_e, logits_e), (ids_g, logits_g) in zip(expected, got):
            assert ids_g == ids_e and torch.allclose(logits_g, logits_e, atol=1e-4, rtol=0)
        ends = block_ends(tiny.prefill_block, 10_000)
        assert ends[:5] == [8, 16, 32, 64, 96]
        lengths = [len(e.tokens) for e in cache._entries.values()]
        assert lengths and all(n in ends for n in lengths)  # stored and reused at the schedule's boundaries only
        assert cache.stats()["hits"] == hits + 1  # TURN2 reused TURN1's blocks
        tiny.prefill_block = 8  # blocks of another schedule are other arithmetic: never matched
        run(tiny, TURN2)
        assert cache.stats()["hits"] == hits + 1
    finally:
        tiny.prefill_block, tiny.prefix_cache = saved, cache
        cache.clear()
    with pytest.raises(ConfigError, match="prefill_block"):
        block_ends((64, 0), 100)


def test_batch_rows_bypass_the_cache_and_match_single_calls(tiny):
    tiny.set_adapter(None)
    tiny.clear_prefix_cache()
    before = tiny.prefix_cache.stats()
    rows = tiny.batch([TURN1, TURN2], max_tokens=N, adapter="a")
    assert tiny.prefix_cache.stats() == before  # batches neither read nor fill it
    singles = [tiny.complete(c, max_tokens=N, adapter="a").text for c in (TURN1, TURN2)]
    assert [r.text for r in rows] == singles
    assert tiny.prefix_cache.stats()["hits"] == before["hits"] + 1  # TURN2 reused TURN1's prefix


def test_stream_and_seeded_sampling_reuse_the_cache_unchanged(tiny):
    tiny.clear_prefix_cache()
    tiny.prefix_cache, saved = None, tiny.prefix_cache
    want_stream = "".join(p for p in tiny.stream(TURN2, max_tokens=N) if isinstance(p, str))
    want_sample = tiny.complete(TURN2, max_tokens=N, temperature=1.0, seed=7).text
    tiny.prefix_cache = saved
    tiny.complete(TURN1, max_tokens=N)
    hits = saved.stats()["hits"]
    assert "".join(p for p in tiny.stream(TURN2, max_tokens=N) if isinstance(p, str)) == want_stream
    assert tiny.complete(TURN2, max_tokens=N, temperature=1.0, seed=7).text == want_sample
    assert saved.stats()["hits"] == hits + 2


def test_changed_weights_never_reuse_old_entries(tiny_llama_dir):
    llm = load_llm(str(tiny_llama_dir), dtype="float32")
    first = run(llm, TURN1)
    with torch.no_grad():
        llm.model.model.embed_tokens.weight.mul_(1.5)  # an in-place change, like an optimizer step
    misses = llm.prefix_cache.stats()["misses"]
    changed = run(llm, TURN1)
    assert llm.prefix_cache.stats()["misses"] == misses + 1  # the old entry no longer matches
    llm.prefix_cache = None
    assert changed[0] == run(llm, TURN1)[0] and not torch.allclose(changed[1], first[1])


def test_off_switch_and_bounds(tiny_llama_dir):
    off = load_llm(str(tiny_llama_dir), dtype="float32", prefix_cache=False)
    assert off.prefix_cache is None and off.complete(TURN1, max_tokens=2).text is not None
    small = PrefixCache(max_entries=2)
    llm = load_llm(str(tiny_llama_dir), dtype="float32", prefix_cache=small)
    assert llm.prefix_cache is small
    llm.prefill_block = 4  # these prompts are shorter than the default block of 64 tokens
    for q in ("one", "two", "three"):
        llm.complete([{"role": "user", "content": f"Question {q}?"}], max_tokens=2)
    assert len(small) == 2  # least recently used dropped
    per_entry = small.stats()["bytes"] // 2
    tight = PrefixCache(max_bytes=int(per_entry * 1.5))
    llm.prefix_cache = tight
    for q in ("one", "two"):
        llm.complete([{"role": "user", "content": f"Question {q}?"}], max_tokens=2)
    assert len(tight) == 1 and tight.stats()["bytes"] <= tight.max_bytes
    # an entry extended by the next turn is replaced, not kept twice
    llm.prefix_cache = chat = PrefixCache()
    text = llm.complete(TURN1, max_tokens=N).text
    llm.complete(TURN1 + [{"role": "assistant", "content": text}, {"role": "user", "content": "More?"}], max_tokens=N)
    assert chat.stats()["hits"] == 1


def test_bad_settings_are_clear_errors(tiny_llama_dir):
    with pytest.raises(ConfigError, match="prefix_cache=.*True .*False or a PrefixCache"):
        load_llm(str(tiny_llama_dir), dtype="float32", prefix_cache="yes")
    with pytest.raises(ConfigError, match="max_entries"):
        PrefixCache(max_entries=0)
    with pytest.raises(ConfigError, match="max_bytes"):
        PrefixCache(max_bytes=0)
    assert common_prefix_length([1, 2, 3], [1, 2, 3, 4]) == 3 and common_prefix_length([], [1]) == 0


@pytest.mark.real_model
def test_constrained_tool_calls_with_the_cache_on_the_default_model(default_llm):
    tools = [{"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]
    history = [{"role": "user", "content": "What is 2 + 3? Use the tool."}]
    cache, default_llm.prefix_cache = default_llm.prefix_cache, None
    try:
        want = default_llm.complete(history, tools=tools, max_tokens=24)
    finally:
        default_llm.prefix_cache = cache
    cache.clear()
    first = default_llm.complete(history, tools=tools, max_tokens=24)
    again = default_llm.complete(history, tools=tools, max_tokens=24)
    calls = [[(c.name, c.arguments) for c in out.tool_calls] for out in (want, first, again)]  # (ids are random)
    assert calls[0] == calls[1] == calls[2] and calls[0][0][0] == "add"
    assert first.text == again.text == want.text and first.usage == again.usage == want.usage
    assert cache.stats()["hits"] >= 1


def test_cache_reuse_is_bit_identical_in_bfloat16(tiny_llama_dir):
    """Prefill runs in fixed blocks whether or not the cache is used, so reuse is exact even in bf16
    (where prefix + rest is not the same arithmetic as one pass). The suite pins float32 (conftest),
    so this runs bf16 on purpose, on every machine."""
    llm = load_llm(str(tiny_llama_dir), dtype="bfloat16")
    cache = llm.prefix_cache
    llm.prefix_cache = None
    expected = [run(llm, p) for p in (TURN1, TURN2, TURN2)]
    llm.prefix_cache = cache
    cache.clear()
    got = [run(llm, p) for p in (TURN1, TURN2, TURN2)]
    assert cache.stats()["hits"] == 2
    for (ids_e, logits_e), (ids_g, logits_g) in zip(expected, got):
        assert ids_g == ids_e and torch.equal(logits_g, logits_e)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_one_pass_prefill_is_the_block_passes_bit_for_bit(tiny_llama_dir, default_llm, dtype):
    """On CPU a prompt's blocks are prefilled in one pass whose attention runs block by block
    (``prefill_blocks``): the same keys and values, bit for bit, as one pass per block, with the cache or without."""
    import augment.llm.kvcache as kv

    llm = default_llm if dtype == "float32" else load_llm(str(tiny_llama_dir), dtype="bfloat16")
    model = llm.model
    prompt = llm.render_prompt([{"role": "system", "content": SYSTEM * 16}, {"role": "user", "content": "Why?"}])
    tokens = llm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ends = kv.block_ends(llm.prefill_block, len(tokens) - 1)
    assert len(ends) >= 5 and kv._blockwise_attention(model)
    passes = []
    hook = (model.get_base_model() if hasattr(model, "get_base_model") else model).model.register_forward_hook(
        lambda *a: passes.append((kv.PREFILL_BLOCKS.get() or (None,))[:2]))
    cache = PrefixCache()
    try:
        with torch.inference_mode(), llm._adapter_scope(None):
            one = kv.block_prefill(model, tokens, llm.prefill_block)
            assert passes == [(0, tuple(ends))]  # one pass over every block
            kv.block_prefill(model, tokens[: ends[2] + 1], llm.prefill_block, cache)  # the cache holds 3 blocks
            passes.clear()
            reused = kv.block_prefill(model, tokens, llm.prefill_block, cache)
            assert passes == [(ends[2], tuple(ends[3:]))] and cache.stats()["hits"] == 1
            saved, kv._blockwise_attention = kv._blockwise_attention, lambda m: False
            try:
                passes.clear()
                per_block = kv.block_prefill(model, tokens, llm.prefill_block)
                assert len(passes) == len(ends) and set(passes) == {(None,)}
            finally:
                kv._blockwise_attention = saved
    finally:
        hook.remove()
    for other in (reused, per_block):
        assert all(torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
                   for a, b in zip(one.layers, other.layers))
