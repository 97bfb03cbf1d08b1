"""PEFT LoRA folder -> llama.cpp GGUF LoRA, checked against the real default GGUF (no llama.cpp needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augment.errors import AdapterError, ModelNotFoundError
from augment.llm.defaults import cached_gguf_conversion, default_gguf_path
from augment.llm.gguf_lora import _permute, cached_peft_to_gguf_lora, peft_to_gguf_lora

HIDDEN, KV_OUT, R = 576, 192, 4  # SmolLM2-135M: 9 heads of 64, 3 KV heads


def write_peft(folder, modules, r=R, alpha=16, **config):
    """A PEFT LoRA folder (adapter_config.json + safetensors) with random weights of the given shapes."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, (n_in, n_out) in modules.items():
        prefix = f"base_model.model.{name}"
        tensors[f"{prefix}.lora_A.weight"] = rng.normal(size=(r, n_in)).astype(np.float32)
        tensors[f"{prefix}.lora_B.weight"] = rng.normal(size=(n_out, r)).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": alpha,
                                                            "target_modules": ["q_proj"], **config}))
    return folder, tensors


def test_q_k_permutation_matches_the_real_gguf():
    """The permutation applied to lora_B is the one the GGUF's own q/k weights carry."""
    import gguf
    from safetensors import safe_open

    reader = gguf.GGUFReader(str(default_gguf_path()))
    stored = {t.name: t for t in reader.tensors}
    with safe_open(str(cached_gguf_conversion(default_gguf_path()) / "model.safetensors"), framework="np") as f:
        for hf, name, heads in (("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 9),
                                ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", 3)):
            w_hf = f.get_tensor(hf)
            t = stored[name]
            w_gguf = gguf.quants.dequantize(t.data, t.tensor_type).reshape(w_hf.shape)
            assert np.allclose(_permute(w_hf, heads), w_gguf, atol=1e-5)
            assert not np.allclose(w_hf, w_gguf, atol=1e-3)  # the permutation is not a no-op


def test_conversion_names_shapes_scale_and_permutation(tmp_path):
    import gguf

    modules = {"model.layers.0.self_attn.q_proj": (HIDDEN, HIDDEN), "model.layers.0.self_attn.k_proj": (HIDDEN, KV_OUT),
               "model.layers.1.self_attn.v_proj": (HIDDEN, KV_OUT), "model.layers.2.mlp.down_proj": (1536, HIDDEN)}
    folder, tensors = write_peft(tmp_path / "lora", modules)
    out = peft_to_gguf_lora(folder, default_gguf_path(), tmp_path / "lora.gguf")
    reader = gguf.GGUFReader(str(out))
    assert reader.get_field("general.type").contents() == "adapter"
    assert reader.get_field("adapter.type").contents() == "lora"
    assert reader.get_field("adapter.lora.alpha").contents() == 16.0
    got = {t.name: np.asarray(t.data).reshape(tuple(reversed([int(x) for x in t.shape]))) for t in reader.tensors}
    assert sorted(got) == sorted(f"{g}.weight.lora_{p}" for g in ("blk.0.attn_q", "blk.0.attn_k", "blk.1.attn_v", "blk.2.ffn_down")
                                 for p in "ab")
    b = lambda m: tensors[f"base_model.model.{m}.lora_B.weight"]  # noqa: E731
    assert np.array_equal(got["blk.0.attn_q.weight.lora_b"], _permute(b("model.layers.0.self_attn.q_proj"), 9))
    assert np.array_equal(got["blk.0.attn_k.weight.lora_b"], _permute(b("model.layers.0.self_attn.k_proj"), 3))
    assert np.array_equal(got["blk.1.attn_v.weight.lora_b"], b("model.layers.1.self_attn.v_proj"))
    assert np.array_equal(got["blk.2.ffn_down.weight.lora_a"], tensors["base_model.model.model.layers.2.mlp.down_proj.lora_A.weight"])
    # cached: the second call converts nothing
    first = cached_peft_to_gguf_lora(folder, default_gguf_path(), cache_dir=tmp_path / "cache")
    mtime = first.stat().st_mtime_ns
    assert cached_peft_to_gguf_lora(folder, default_gguf_path(), cache_dir=tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == mtime


def test_rslora_alpha_is_rescaled(tmp_path):
    import gguf

    folder, _ = write_peft(tmp_path / "rs", {"model.layers.0.self_attn.q_proj": (HIDDEN, HIDDEN)}, use_rslora=True)
    reader = gguf.GGUFReader(str(peft_to_gguf_lora(folder, default_gguf_path(), tmp_path / "rs.gguf")))
    assert reader.get_field("adapter.lora.alpha").contents() == pytest.approx(16 * 2.0)  # alpha * sqrt(r=4)


def test_what_llamacpp_cannot_run_is_a_clear_error(tmp_path):
    gguf_path = default_gguf_path()
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        peft_to_gguf_lora(tmp_path / "nothing", gguf_path, tmp_path / "x.gguf")
    dora, _ = write_peft(tmp_path / "dora", {"model.layers.0.self_attn.q_proj": (HIDDEN, HIDDEN)}, use_dora=True)
    with pytest.raises(AdapterError, match="DoRA"):
        peft_to_gguf_lora(dora, gguf_path, tmp_path / "x.gguf")
    other, _ = write_peft(tmp_path / "other", {"model.layers.0.self_attn.q_proj": (64, 64)})
    with pytest.raises(AdapterError, match="belongs to another model"):
        peft_to_gguf_lora(other, gguf_path, tmp_path / "x.gguf")
    deep, _ = write_peft(tmp_path / "deep", {"model.layers.99.self_attn.q_proj": (HIDDEN, HIDDEN)})
    with pytest.raises(AdapterError, match="no tensor for module"):
        peft_to_gguf_lora(deep, gguf_path, tmp_path / "x.gguf")
