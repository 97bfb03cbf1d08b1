"""Fast decode (augment.llm.fastdecode): the decode passes of a Llama-family model in plain torch.

Checked against ``model(...)`` on the same cache: tiny Llamas in float32 (logits
agree to float32 rounding) and, snapped to a Q4_1 grid, in bfloat16 with packed
layers and folded adapters; an unfolded PEFT adapter, drafted rows, cropping and
buffer growth; whole replies with and without it; models it must leave alone.
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import grid_llama_dir, make_lora, smol_tokenizer_dir, tiny_llama, tiny_llama_dir  # noqa: F401

from augment.llm.fastdecode import FastDecoder
from augment.llm.kvcache import cache_kwarg, extend_cache
from augment.llm.loader import load_llm
from augment.llm.lookahead import crop_cache

PROMPT = list(range(200, 240))
FEEDS = ([7], [11, 12, 13], [500])  # one token, three drafted rows, one more


def both_ways(model, prompt=PROMPT, feeds=FEEDS, capacity=None, keep=None, decoder=None):
    """Logits of each feed through ``model(...)`` and through a fast session, from the same prompt cache.

    ``keep[i]``: how many rows of feed ``i`` stay in the cache afterwards (the rest are rejected drafts)."""
    from transformers import DynamicCache

    keep = keep or [len(f) for f in feeds]
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        extend_cache(model, prompt, cache)
        session = (decoder or FastDecoder.build(model)).start(cache, capacity or len(prompt) + 16)
        slow, fast = [], []
        for feed, kept in zip(feeds, keep):
            slow.append(model(input_ids=torch.tensor([feed]), use_cache=True, logits_to_keep=len(feed),
                              **{cache_kwarg(): cache}).logits[0].float())
            crop_cache(cache, cache.get_seq_length() - (len(feed) - kept))
            fast.append(session.run(feed))
            session.crop(session.length - (len(feed) - kept))
            assert session.length == cache.get_seq_length()
    return slow, fast


@pytest.fixture(scope="module")
def tiny_f32(tiny_llama_dir):
    return load_llm(str(tiny_llama_dir), dtype="float32", adapter=None)


def test_float32_logits_match_the_model_one_and_several_rows(tiny_f32):
    # the middle feed keeps 1 of its 3 rows (two rejected drafts), so the last pass sees a cropped cache
    slow, fast = both_ways(tiny_f32.model, keep=[1, 1, 1])
    for s, f in zip(slow, fast):
        assert s.shape == f.shape
        assert torch.allclose(s, f, atol=1e-4, rtol=1e-4), float((s - f).abs().max())


def test_buffers_grow_past_the_planned_capacity(tiny_f32):
    feeds = [[i] for i in range(300, 320)]  # 20 tokens into room for 41 positions: grows twice
    slow, fast = both_ways(tiny_f32.model, feeds=feeds, capacity=len(PROMPT) + 1)
    assert all(torch.allclose(s, f, atol=1e-4, rtol=1e-4) for s, f in zip(slow, fast))


def test_an_unfolded_peft_adapter_runs_through_its_own_module(smol_tokenizer_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smol_tokenizer_dir))
    torch.manual_seed(3)
    model = get_peft_model(tiny_llama(tok), LoraConfig(r=4, target_modules=["q_proj", "down_proj"],
                                                       init_lora_weights=False)).eval()
    base = tiny_llama(tok)
    slow, fast = both_ways(model)
    for s, f in zip(slow, fast):
        assert torch.allclose(s, f, atol=1e-4, rtol=1e-4)
    plain, _ = both_ways(base)
    assert float((plain[0] - slow[0]).abs().max()) > 1e-2  # the adapter changed the logits, so it ran


def test_packed_bf16_layers_and_folded_adapters(grid_llama_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    adapters = {"a": make_lora(AutoModelForCausalLM.from_pretrained(str(grid_llama_dir)), tmp_path / "a", seed=1,
                               targets=("q_proj", "k_proj", "v_proj", "gate_proj", "down_proj")),
                "b": make_lora(AutoModelForCausalLM.from_pretrained(str(grid_llama_dir)), tmp_path / "b", seed=2,
                               targets=("o_proj", "up_proj"))}
    llm = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=adapters)
    assert llm.packed_layers == 14
    for name in ("a", "b", None, "a"):
        llm.set_adapter(name)
        with llm._lock, llm._adapter_scope(None):
            slow, fast = both_ways(llm.model, decoder=llm._fast_decoder())
        for s, f in zip(slow, fast):
            spread = float(s.max() - s.min())
            assert float((s - f).abs().max()) <= 0.03 * spread, name
            assert torch.equal(s.argmax(-1), f.argmax(-1)), name
    decoder = llm._fast_decoder()
    # gate and up (128 rows each) joined into one int4 product; q (64) and k, v (32 rows each) are not
    # whole blocks of torch's packed layout, so they run apart
    assert {k[1] for k in decoder.fused if isinstance(k[0], int)} == {"o", "gate_up", "down"}


def test_replies_are_the_same_with_and_without_it(tiny_llama_dir):
    fast = load_llm(str(tiny_llama_dir), dtype="float32", adapter=None)
    slow = load_llm(str(tiny_llama_dir), dtype="float32", adapter=None, fast_decode=False)
    assert fast._fast_decoder() is not None and slow._fast_decoder() is None
    calls = []
    original = FastDecoder.start
    FastDecoder.start = lambda self, *a: calls.append(1) or original(self, *a)
    try:
        for text in ("the cat sat on the mat and the cat", "Tell me about lighthouses.", "1 2 3 4 1 2 3"):
            msgs = [{"role": "user", "content": text}]
            assert fast.complete(msgs, max_tokens=16).text == slow.complete(msgs, max_tokens=16).text
    finally:
        FastDecoder.start = original
    assert len(calls) == 3  # the fast path did run, once per reply


def test_models_it_does_not_reproduce_are_left_alone(tiny_f32, smol_tokenizer_dir):
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    assert FastDecoder.build(tiny_f32.model) is not None
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100))
    assert FastDecoder.build(gpt2) is None
    tok = AutoTokenizer.from_pretrained(str(smol_tokenizer_dir))
    cfg = tiny_llama(tok).config.to_dict()
    cfg["rope_parameters"] = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}
    assert FastDecoder.build(LlamaForCausalLM(LlamaConfig(**cfg))) is None  # angles depend on the length


def test_the_default_model_joins_its_layers_and_keeps_its_choices(default_llm, float32_reference):
    """bfloat16 with 4-bit decode, as ``dtype="auto"`` runs on a CPU with native bf16: every layer's q, k, v
    (576 + 192 + 192 rows) and gate, up run as one int4 product each, and teacher-forced over a text the
    fast passes pick the unpacked float32 model's next token as often as ``model(...)`` on the same weights
    does. So do the float32 model's fast passes (4-bit layers, the output head on a float16 copy), as
    ``dtype="auto"`` runs on a CPU without native bf16."""
    from transformers import DynamicCache

    from test_packed import stepwise

    llm = load_llm(dtype="bfloat16")
    text = ("The lighthouse on Skerry Point was built in 1871 from granite quarried on the island; its lamp was "
            "converted to electricity in 1952 and automated in 1987, when the last keeper, Ada Flett, retired.")
    ids = llm.tokenizer(text)["input_ids"]

    def fast_logits(model_llm, adapter):
        model_llm.set_adapter(adapter)
        with model_llm._lock, model_llm._adapter_scope(None), torch.inference_mode():
            session = model_llm._fast_decoder().start(DynamicCache(config=model_llm.model.config), len(ids))
            return torch.cat([session.run([t]) for t in ids])

    agree = {"fast": 0, "model": 0, "fast float32": 0, "model float32": 0}
    for adapter in (None, "augment"):
        truth = stepwise(float32_reference, ids, adapter).argmax(-1)
        agree["model"] += int((stepwise(llm, ids, adapter).argmax(-1) == truth).sum())
        agree["fast"] += int((fast_logits(llm, adapter).argmax(-1) == truth).sum())
        agree["model float32"] += int((stepwise(default_llm, ids, adapter).argmax(-1) == truth).sum())
        agree["fast float32"] += int((fast_logits(default_llm, adapter).argmax(-1) == truth).sum())
    default_llm.set_adapter(None)
    float32_reference.set_adapter(None)
    total = 2 * len(ids)
    for name in ("fast", "fast float32"):
        assert agree[name] >= 0.9 * total and agree[name] >= agree["model"] - 0.03 * total, (agree, total)
    joined = {k[1] for k in llm._fast_decoder().fused if isinstance(k[0], int)}
    assert joined == {"qkv", "o", "gate_up", "down"}
    assert len(llm._fast_decoder().fused) == 4 * 30
    fused32 = default_llm._fast_decoder().fused
    assert fused32["head16"][1].dtype == torch.float16 and len(fused32) == 4 * 30 + 1
    assert "head16" not in llm._fast_decoder().fused  # a bfloat16 model keeps its head


def test_a_short_prompt_rest_rides_along_in_the_first_pass(tiny_f32, monkeypatch):
    """The tokens after the last prefill block (at most 8) go into the first decoding pass with the drafts:
    the same reply as prefilling them first, one pass fewer."""
    from transformers import DynamicCache

    import augment.llm.kvcache as kvcache
    from augment.llm.lookahead import MERGED_REST, PromptLookup, greedy_decode

    model, eos = tiny_f32.model, set(tiny_f32._eos_ids)
    prompt = tiny_f32.tokenizer("the cat sat on the mat and the cat sat on the", add_special_tokens=False)["input_ids"]
    cached = len(prompt) - MERGED_REST
    extends = []
    real = kvcache.extend_cache
    monkeypatch.setattr(kvcache, "extend_cache", lambda m, t, c: extends.append(len(t)) or real(m, t, c))
    replies = []
    for fast in (None, FastDecoder.build(model)):
        with torch.inference_mode():
            cache = DynamicCache(config=model.config)
            real(model, prompt[:cached], cache)
            replies.append(greedy_decode(model, cache, prompt, cached, 12, eos, cache_kw=cache_kwarg(),
                                         drafter=PromptLookup().draft, fast=fast))
    assert replies[0] == replies[1] and len(replies[0][0]) > 0
    assert extends == [MERGED_REST - 1]  # only the path without the fast decoder prefilled the rest apart
