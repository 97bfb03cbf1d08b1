"""4-bit decode (augment.llm.packed): layers whose weights are exactly 4-bit values decode through torch's int4 kernel.

A tiny Llama whose layer weights are snapped to a Q4_1 grid (groups of 32, as
the shipped GGUF) stands in for the default model; the suite pins float32, so
these tests load bfloat16 on purpose (a float32 model packs too: its decode
passes cast the activations to bfloat16 for the kernel). One test checks the
real default model.
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import grid_llama_dir, make_lora, smol_tokenizer_dir, snap_to_grid  # noqa: F401 (fixtures)

from augment.llm.loader import load_llm
from augment.llm.packed import GROUP, grid_4bit, packed_layers

PROMPT = [{"role": "user", "content": "Tell me about the lighthouse on Skerry Point and its keepers."}]
LONG = [{"role": "system", "content": "You answer questions about lighthouses. " * 12}] + PROMPT


@pytest.fixture(scope="module")
def grid_adapters(grid_llama_dir, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("grid-adapters")
    return {"a": make_lora(AutoModelForCausalLM.from_pretrained(str(grid_llama_dir)), root / "a", seed=1),
            "b": make_lora(AutoModelForCausalLM.from_pretrained(str(grid_llama_dir)), root / "b", seed=2,
                           targets=("o_proj", "down_proj"))}


def decode_logits(llm, adapter=None) -> torch.Tensor:
    """Logits of a short prompt in one pass (under 16 rows: the packed path where there is one)."""
    ids = torch.tensor([llm.tokenizer("The keeper of Skerry Point retired in")["input_ids"]])
    assert ids.shape[1] <= 16
    if llm.adapters:
        llm.set_adapter(adapter)  # None: the base model
    with llm._lock, llm._adapter_scope(None), torch.inference_mode():
        return llm.model(input_ids=ids).logits[0].float()


def assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    spread = float(want.max() - want.min())
    assert float((got - want).abs().max()) <= 0.03 * spread
    assert not torch.equal(got, want)  # the packed path did run: it rounds differently


def test_grid_4bit_recovers_the_levels_and_rejects_other_weights():
    torch.manual_seed(0)
    weight = torch.randn(16, 64)
    assert grid_4bit(weight) is None  # random weights are not 4-bit values
    snapped = snap_to_grid(weight)
    q, scale, zero = grid_4bit(snapped)
    assert q.dtype == torch.int32 and int(q.min()) == 0 and int(q.max()) == 15
    rebuilt = (q.float() - 8) * scale.repeat_interleave(GROUP, 1) + zero.repeat_interleave(GROUP, 1)
    assert torch.allclose(rebuilt, snapped, atol=1e-6)
    assert grid_4bit(snapped.bfloat16()) is not None  # within bfloat16's rounding of the same values
    nudged = snapped.clone()
    nudged[3, 5] += 0.3 * float(scale[3, 0])
    assert grid_4bit(nudged) is None  # a third of a level off the grid
    assert grid_4bit(snapped[:, :48]) is None  # rows not made of whole groups


def test_packed_decode_runs_the_same_weights(grid_llama_dir):
    packed = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=None)
    plain = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=None, packed_decode=False)
    assert packed.packed_layers == 14 == len(packed_layers(packed.model))  # 7 linears x 2 layers, not lm_head
    assert plain.packed_layers == 0 and not packed_layers(plain.model)
    assert_close(decode_logits(packed), decode_logits(plain))
    # a float32 model packs the same layers; its decode passes run the kernel on bfloat16 activations
    packed32 = load_llm(str(grid_llama_dir), dtype="float32", adapter=None)
    plain32 = load_llm(str(grid_llama_dir), dtype="float32", adapter=None, packed_decode=False)
    assert packed32.packed_layers == 14 and plain32.packed_layers == 0
    got32 = decode_logits(packed32)
    assert got32.dtype == torch.float32 and packed32.model.dtype == torch.float32
    assert_close(got32, decode_logits(plain32))
    # long inputs (prefill) keep the bfloat16 weights: identical to the plain model
    ids = torch.tensor([list(range(100, 140))])
    with torch.inference_mode():
        assert torch.equal(packed.model(input_ids=ids).logits, plain.model(input_ids=ids).logits)


def test_folded_adapters_are_added_beside_the_packed_weights(grid_llama_dir, grid_adapters):
    packed = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=dict(grid_adapters))
    plain = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=dict(grid_adapters), packed_decode=False)
    base = decode_logits(plain, None)
    for name in ("a", "b", None, "a", "b"):  # switching folds and unfolds; each state matches the plain model's
        got, want = decode_logits(packed, name), decode_logits(plain, name)
        assert_close(got, want)
        if name is not None:
            assert float((want - base).abs().max()) > 0.1, name  # the adapter changes the model, so the side mattered
        sides = [layer._augment_int4["side"] for layer in packed_layers(packed.model)]
        assert sum(side is not None for side in sides) == {None: 0, "a": 4, "b": 4}[name]  # q,v / o,down x 2 layers


def test_merge_and_in_place_changes_fall_back_to_the_ordinary_weights(grid_llama_dir, grid_adapters):
    llm = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter={"a": grid_adapters["a"]})
    plain = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter={"a": grid_adapters["a"]}, packed_decode=False)
    llm.merge("a")
    plain.merge("a")
    assert llm.packed_layers == 0 and not packed_layers(llm.model)  # W + BA is no longer 4-bit values
    assert torch.equal(decode_logits(llm), decode_logits(plain))

    other = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=None)
    layer = packed_layers(other.model)[0]
    x = torch.randn(1, 3, layer.in_features, dtype=torch.bfloat16)
    with torch.enable_grad():  # training sees the ordinary weights
        assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight))
    with torch.no_grad():
        layer.weight.mul_(0.5)  # an optimizer step, a load_state_dict: the packed copy is stale
    with torch.inference_mode():
        assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight))
    assert not hasattr(layer, "_augment_int4") and len(packed_layers(other.model)) == 13


def test_prefix_cache_reuse_stays_exact_with_packed_decode(grid_llama_dir):
    llm = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=None)
    fresh = load_llm(str(grid_llama_dir), dtype="bfloat16", adapter=None, prefix_cache=False)
    assert llm.packed_layers == fresh.packed_layers == 14
    first = llm.complete(LONG, max_tokens=12).text
    again = llm.complete(LONG + [{"role": "assistant", "content": first}, *PROMPT], max_tokens=12).text
    assert llm.prefix_cache.stats()["hits"] >= 1
    assert first == fresh.complete(LONG, max_tokens=12).text
    assert again == fresh.complete(LONG + [{"role": "assistant", "content": first}, *PROMPT], max_tokens=12).text


def stepwise(llm, ids, adapter):
    """Next-token logits after each prefix of ``ids``, one token a pass on a KV cache (as decoding runs)."""
    from transformers import DynamicCache

    llm.set_adapter(adapter)
    with llm._lock, llm._adapter_scope(None), torch.inference_mode():
        cache = DynamicCache(config=llm.model.config)
        return torch.stack([llm.model(input_ids=torch.tensor([[t]]), past_key_values=cache, use_cache=True)
                            .logits[0, -1].float() for t in ids])


def test_the_default_model_decodes_on_its_shipped_4bit_weights(default_llm, float32_reference):
    """The embedded GGUF is Q4_1: all 210 layer matmuls pack; lm_head (Q8_0 in the file) does not.
    Decoding on them picks the unpacked float32 model's next token as often as the bfloat16
    weights do, in bfloat16 and in float32 (the suite's ``default_llm``), with and without
    augment's adapter (measured, of 178 positions: bfloat16 packed 170, bfloat16
    unpacked 167, float32 packed 177)."""
    packed = load_llm(dtype="bfloat16")
    assert packed.packed_layers == 210 == default_llm.packed_layers
    plain = load_llm(dtype="bfloat16", packed_decode=False)
    text = ("The lighthouse on Skerry Point was built in 1871 from granite quarried on the island; its lamp was "
            "converted to electricity in 1952 and automated in 1987, when the last keeper, Ada Flett, retired. "
            "Visitors can climb the 96 steps to the lantern room on summer weekends, and the old keeper's cottage "
            "is now a small museum about the island's fishing history.")
    ids = packed.tokenizer(text)["input_ids"]
    agree = {"packed": 0, "plain": 0, "packed float32": 0}
    for adapter in (None, "augment"):
        truth = stepwise(float32_reference, ids, adapter).argmax(-1)
        for name, llm in (("packed", packed), ("plain", plain), ("packed float32", default_llm)):
            agree[name] += int((stepwise(llm, ids, adapter).argmax(-1) == truth).sum())
    default_llm.set_adapter(None)  # as load_llm() leaves it: augment's adapter per request
    total = 2 * len(ids)
    for name in ("packed", "packed float32"):
        assert agree[name] >= 0.9 * total and agree[name] >= agree["plain"] - 0.03 * total, (agree, total)
