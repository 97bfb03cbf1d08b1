"""One-row greedy decoding with drafted tokens (prompt lookup, grammar-forced text): the same tokens as
decoding one token per pass, in fewer passes; and the float32 attention path for short bf16 queries."""

from __future__ import annotations

import pytest
import torch
from tiny_models import smol_tokenizer_dir, tiny_llama_dir  # noqa: F401 (fixtures)

from augment.errors import ConfigError
from augment.llm import _hf
from augment.llm.kvcache import cache_kwarg
from augment.llm.lookahead import PromptLookup, crop_cache, greedy_decode
from augment.llm.loader import load_llm


def test_prompt_lookup_drafts_what_followed_the_latest_match():
    lookup = PromptLookup()
    assert lookup.draft([5, 6, 7, 8, 1, 5, 6], 3) == [7, 8, 1]
    # the longest tail wins over a later, shorter match: [2, 3] -> 4, not the 3 -> 9 after it
    assert lookup.draft([1, 2, 3, 4, 0, 3, 9, 0, 2, 3], 2) == [4, 0]
    assert lookup.draft([1, 2, 1, 3, 1, 4, 1], 1) == [4]  # latest occurrence of the tail
    assert lookup.draft([1, 2, 3], 4) == [] and lookup.draft([1, 1], 0) == []
    assert PromptLookup(min_ngram=2).draft([7, 1, 2, 7], 3) == []  # a one-token match is not enough here


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_llm(str(tiny_llama_dir), dtype="float32", adapter=None)


def _decode(llm, prompt, drafter, max_new=12):
    from transformers import DynamicCache

    cache = DynamicCache(config=llm.model.config)
    with torch.inference_mode():
        ids, hit = greedy_decode(llm.model, cache, prompt, 0, max_new, set(llm._eos_ids), cache_kw=cache_kwarg(),
                                 drafter=drafter)
    return ids, hit, cache.get_seq_length()


def test_right_wrong_and_no_drafts_give_generates_greedy_tokens(tiny):
    prompt = tiny.tokenizer("the cat sat on the mat and the cat", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = tiny.model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                                  pad_token_id=tiny.tokenizer.pad_token_id, eos_token_id=tiny._eos_ids)
    want = [t for t in out[0, len(prompt):].tolist() if t not in tiny._eos_ids][:12]
    plain, _, length = _decode(tiny, prompt, None)
    assert plain == want and length == len(prompt) + len(plain) - 1
    oracle = lambda seq, limit: want[len(seq) - len(prompt):][:limit]  # noqa: E731 - always right
    wrong = lambda seq, limit: [(seq[-1] + 1) % 1000] * limit  # noqa: E731 - always wrong
    for drafter in (oracle, wrong, PromptLookup().draft):
        ids, _, length = _decode(tiny, prompt, drafter)
        assert ids == want, drafter
        assert length == len(prompt) + len(ids) - 1  # rejected drafts leave nothing in the cache


def test_crop_cache_keeps_the_first_positions(tiny):
    from transformers import DynamicCache

    cache = DynamicCache(config=tiny.model.config)
    with torch.inference_mode():
        tiny.model(input_ids=torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True, **{cache_kwarg(): cache})
    crop_cache(cache, 3)
    assert cache.get_seq_length() == 3
    crop_cache(cache, 9)  # longer than it is: unchanged
    assert cache.get_seq_length() == 3


def test_prompt_lookup_setting_is_checked(tiny_llama_dir):
    assert load_llm(str(tiny_llama_dir), dtype="float32", adapter=None, prompt_lookup=0).prompt_lookup == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="prompt_lookup"):
            load_llm(str(tiny_llama_dir), dtype="float32", adapter=None, prompt_lookup=bad)


@pytest.mark.real_model
def test_same_answers_in_fewer_passes_on_the_default_model(default_llm):
    """A RAG-style answer that quotes its source and a constrained tool call: identical with drafting on and
    off, and drafting runs the model fewer times (the speedup; its size is measured in tools/bench_agent_step.py)."""
    from augment.llm.fastdecode import FastSession

    passes = []
    hook = default_llm.model.get_output_embeddings().register_forward_hook(lambda *a: passes.append(1))
    run = FastSession.run  # decode passes of the fast path (augment.llm.fastdecode) do not call the module
    FastSession.run = lambda self, tokens, **kw: passes.append(1) or run(self, tokens, **kw)
    source = ("The museum opens at 9 am on weekdays and at 10 am on Saturdays. Entry is free for children under "
              "twelve; adults pay eight euros. The cafe on the second floor closes at 4 pm.")
    rag = [{"role": "system", "content": f"Answer from this source, quoting it.\n\n{source}"},
           {"role": "user", "content": "When does the museum open on Saturdays, and what do adults pay?"}]
    tools = [{"type": "function", "function": {"name": "convert_currency", "description": "Convert an amount.",
              "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
                             "required": ["amount", "to"]}}}]
    call = [{"role": "user", "content": "Convert 8 euros to dollars."}]
    saved = default_llm.prompt_lookup
    runs = {}
    try:
        for k in (0, 8):
            default_llm.prompt_lookup = k
            default_llm.clear_prefix_cache()
            passes.clear()
            a = default_llm.complete(rag, max_tokens=40)
            b = default_llm.complete(call, tools=tools, max_tokens=32)
            runs[k] = (a.text, a.usage, [(c.name, c.arguments) for c in b.tool_calls], b.usage, len(passes))
    finally:
        default_llm.prompt_lookup = saved
        FastSession.run = run
        hook.remove()
    assert runs[0][:4] == runs[8][:4]
    assert runs[8][2] and runs[8][2][0][0] == "convert_currency"
    assert runs[8][4] < runs[0][4] * 0.75, (runs[0][4], runs[8][4])


def test_short_bfloat16_queries_use_float32_attention(tiny_llama_dir):
    llm = load_llm(str(tiny_llama_dir), dtype="bfloat16", adapter=None)
    assert llm.model.config._attn_implementation == _hf.CPU_ATTENTION
    # float32 models take it too (its prompt blocks, see test_kvcache); their short queries stay float32
    assert load_llm(str(tiny_llama_dir), dtype="float32", adapter=None).model.config._attn_implementation == _hf.CPU_ATTENTION
    from transformers import AutoModelForCausalLM, DynamicCache

    plain = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.bfloat16).eval()
    assert plain.config._attn_implementation == "sdpa"
    ids = torch.tensor([list(range(100, 140))])
    with torch.inference_mode():
        for model in (llm.model, plain):
            cache = DynamicCache(config=model.config)
            model(input_ids=ids[:, :-3], use_cache=True, **{cache_kwarg(): cache})
            model.last = model(input_ids=ids[:, -3:], use_cache=True, **{cache_kwarg(): cache}).logits.float()
    assert torch.allclose(llm.model.last, plain.last, atol=0.05), (llm.model.last - plain.last).abs().max()
