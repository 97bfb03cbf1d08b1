"""LoRA adapters through PEFT on a separate tiny Llama (never the shared default model)."""

from __future__ import annotations

import pytest
from tiny_models import make_lora, smol_tokenizer_dir, tiny_llama, tiny_llama_dir  # noqa: F401 (fixtures)

from augment.errors import AdapterError, ModelNotFoundError
from augment.llm.loader import load_llm

PROMPT = "Tell me a story about a dragon."
N = 8


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("adapters")
    a = make_lora(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), root / "a", seed=1)
    b = make_lora(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), root / "b", seed=2, targets=("o_proj",))
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    other = make_lora(tiny_llama(tok, hidden=48), root / "other", seed=3)  # trained for another base model
    return {"a": a, "b": b, "other": other}


def ids(llm, **kw):
    return llm.complete(PROMPT, max_tokens=N, **kw).text


def test_load_switch_per_request_and_merge(tiny_llama_dir, adapters):
    base_llm = load_llm(str(tiny_llama_dir), dtype="float32")
    base = ids(base_llm)

    llm = load_llm(str(tiny_llama_dir), dtype="float32", adapter={"a": adapters["a"]})
    assert llm.adapters == ["a"] and llm.active_adapter == "a"
    with_a = ids(llm)
    assert with_a != base  # the adapter changes the model

    assert llm.load_adapter(adapters["b"], "b", activate=False) == "b"
    assert llm.adapters == ["a", "b"] and llm.active_adapter == "a"
    with_b = ids(llm, adapter="b")  # for this request only
    assert with_b not in (base, with_a)
    assert ids(llm) == with_a  # the active adapter is back

    llm.set_adapter(None)
    assert ids(llm) == base
    assert [c.text for c in llm.batch([PROMPT, PROMPT], max_tokens=N, adapter="a")] == [with_a, with_a]
    llm.set_adapter("b")
    assert ids(llm) == with_b

    llm.merge("a")
    assert llm.adapters == [] and llm.active_adapter is None
    assert ids(llm) == with_a  # a's weights are folded into the base


def test_adapter_errors_leave_the_model_untouched(tiny_llama_dir, adapters, tmp_path):
    llm = load_llm(str(tiny_llama_dir), dtype="float32")
    before = ids(llm)
    with pytest.raises(AdapterError, match="was trained for .*not for this model"):
        llm.load_adapter(adapters["other"], "other")
    assert llm.adapters == [] and ids(llm) == before
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        llm.load_adapter(tmp_path, "empty")
    llm.load_adapter(adapters["a"])  # name defaults to the folder name
    assert llm.adapters == ["a"]
    with pytest.raises(AdapterError, match="already loaded"):
        llm.load_adapter(adapters["a"])
    with pytest.raises(AdapterError, match="no adapter named 'zzz'"):
        llm.set_adapter("zzz")
    with pytest.raises(AdapterError, match="no adapter named 'zzz'"):
        llm.complete(PROMPT, adapter="zzz", max_tokens=1)


def test_active_adapter_is_folded_in_and_unfolded_for_other_requests(tiny_llama_dir, adapters):
    """The active adapter runs folded into the weights (base speed); other requests unfold it and get the same text."""
    llm = load_llm(str(tiny_llama_dir), dtype="float32", adapter={"a": adapters["a"]})
    assert llm._fused == "a"
    folded = ids(llm)
    llm._fuse(None)
    assert ids(llm) == folded and llm._fused == "a"  # unfolded (LoRA layers at work): same text; folded again
    llm.set_adapter(None)
    base = ids(llm)
    assert llm._fused is None  # a request on the base model unfolded it
    assert ids(llm, adapter="a") == folded and llm._fused == "a"  # per request, folded in again
    llm.set_adapter("a")
    assert llm._fused == "a" and ids(llm) == folded and folded != base


def test_unfolding_in_bfloat16_restores_the_base_weights_exactly(tiny_llama_dir, adapters):
    """bf16 rounds W + BA - BA, so unfolding restores a saved copy: the base model is bit-identical after
    switches. The suite pins float32 (conftest), so this runs bf16 on purpose, on every machine."""
    import torch

    fresh = load_llm(str(tiny_llama_dir), dtype="bfloat16")
    llm = load_llm(str(tiny_llama_dir), dtype="bfloat16", adapter={"a": adapters["a"]})
    llm.load_adapter(adapters["b"], "b", activate=False)
    for name in ("a", "b", "a", None, "b", None):
        llm.set_adapter(name)
        ids(llm)
    assert llm._fused is None
    base_weights = {n: p for n, p in fresh.model.named_parameters()}
    for n, p in llm.model.named_parameters():
        key = n.replace("base_model.model.", "").replace(".base_layer", "")
        if "lora_" not in n and key in base_weights:
            assert torch.equal(p, base_weights[key]), n
    assert ids(llm) == ids(fresh)


def test_first_fold_copies_file_mapped_weights_into_memory_first(tiny_llama_dir, adapters):
    """Weights mapped from the safetensors file are copied before the first fold writes them (page-by-page
    copy-on-write faults made the default model's first fold take 1.5 s instead of 0.34 s): same tensors,
    same values and version counters (packed 4-bit copies stay valid), same output."""
    import torch

    from augment.llm.lora import _file_mapped_ranges

    def mapped(t):
        return any(lo <= t.data_ptr() < hi for lo, hi in _file_mapped_ranges())

    skipped = load_llm(str(tiny_llama_dir), dtype="float32", adapter=None)
    skipped.load_adapter(adapters["a"], "a", activate=False)
    skipped.__dict__["_owned"] = True  # as before this change: the fold writes into the mapped file's pages
    llm = load_llm(str(tiny_llama_dir), dtype="float32", adapter=None)
    llm.load_adapter(adapters["a"], "a", activate=False)
    weights = [m.base_layer.weight for m in llm.model.modules() if hasattr(m, "merged_adapters")]
    assert weights and all(mapped(w) for w in weights)  # transformers maps the file: the case this is for
    before = [(w, w._version, w.detach().clone()) for w in weights]
    llm._own_weights()
    for w, version, values in before:
        assert not mapped(w) and w._version == version and torch.equal(w, values)
    now = [m.base_layer.weight for m in llm.model.modules() if hasattr(m, "merged_adapters")]
    assert len(now) == len(weights) and all(a is b for a, b in zip(now, weights))  # the same Parameters
    assert ids(llm, adapter="a") == ids(skipped, adapter="a") and ids(llm) == ids(skipped)
