"""PEFT LoRA folder -> llama.cpp GGUF LoRA adapter, so adapters trained with transformers run on llama.cpp.

What llama.cpp's ``convert_lora_to_gguf.py`` does, for the LoRA adapters that
``augment finetune --method lora`` (PEFT) writes, with the ``gguf`` package:

* tensor names: the Hugging Face module (``model.layers.3.self_attn.q_proj``)
  is mapped to the GGUF name of the base tensor (``blk.3.attn_q.weight``) with
  ``gguf``'s tensor-name map, and written as ``<name>.lora_a`` / ``<name>.lora_b``;
* shapes: PEFT's ``lora_A`` (r x in) and ``lora_B`` (out x r) are what llama.cpp
  expects for ``lora_a`` / ``lora_b``;
* Llama-family GGUFs store ``q_proj``/``k_proj`` rows permuted for llama.cpp's
  rotary layout, so ``lora_B`` of those is permuted the same way;
* scale: llama.cpp multiplies by ``adapter.lora.alpha / r``, as PEFT by
  ``lora_alpha / r`` (rsLoRA's ``alpha / sqrt(r)`` is written as ``alpha * sqrt(r)``).

Converted files are cached under ``$AUGMENT_CACHE_DIR/adapters`` keyed by the
adapter's files, so a second load is instant.

>>> from augment.llm.gguf_lora import gguf_lora_cache_path  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from augment.errors import AdapterError, ModelNotFoundError

__all__ = ["peft_to_gguf_lora", "cached_peft_to_gguf_lora"]

#: GGUF architectures whose q/k weights llama.cpp's converter permutes (rotary layout)
_PERMUTED_ARCHS = {"llama", "mistral", "granite", "granitemoe"}
_FORMAT = 1


def _gguf_field(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    return None if field is None else field.contents()


def _permute(w: Any, n_head: int) -> Any:
    """llama.cpp's q/k row permutation (``LlamaModel.permute`` of convert_hf_to_gguf)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def peft_to_gguf_lora(adapter_dir: str | os.PathLike, base_gguf: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Write the PEFT LoRA adapter in ``adapter_dir`` as a GGUF LoRA for the model ``base_gguf``; return ``out_path``.

    Raises :class:`AdapterError` for what llama.cpp cannot run (DoRA, embedding
    or saved full modules, a module the base model lacks, a shape mismatch).
    """
    import gguf
    import numpy as np
    from safetensors import safe_open

    adapter_dir, out_path = Path(adapter_dir).expanduser(), Path(out_path)
    cfg_path = adapter_dir / "adapter_config.json"
    weights = adapter_dir / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise ModelNotFoundError(f"no PEFT LoRA adapter at {adapter_dir}: expected adapter_config.json and "
                                 "adapter_model.safetensors (saved by PEFT's save_pretrained or `augment finetune --method lora`)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("peft_type", "LORA") != "LORA":
        raise AdapterError(f"{adapter_dir} is a {cfg.get('peft_type')} adapter; llama.cpp runs LoRA adapters only")
    if cfg.get("use_dora"):
        raise AdapterError(f"{adapter_dir} is a DoRA adapter, which llama.cpp cannot run; train a plain LoRA adapter")
    if cfg.get("modules_to_save"):
        raise AdapterError(f"{adapter_dir} also saves full modules ({cfg['modules_to_save']}), which a GGUF LoRA cannot hold")
    r = int(cfg.get("r", 8))
    alpha = float(cfg.get("lora_alpha", r))
    if cfg.get("use_rslora"):
        alpha *= math.sqrt(r)  # PEFT scales by alpha / sqrt(r), llama.cpp by alpha / r
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise AdapterError(f"{adapter_dir} uses per-module ranks or alphas (rank_pattern/alpha_pattern); "
                           "llama.cpp takes one alpha per adapter")

    reader = gguf.GGUFReader(str(base_gguf))
    arch = _gguf_field(reader, "general.architecture")
    blocks = int(_gguf_field(reader, f"{arch}.block_count"))
    n_head = int(_gguf_field(reader, f"{arch}.attention.head_count"))
    n_kv = int(_gguf_field(reader, f"{arch}.attention.head_count_kv") or n_head)
    base_shapes = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}  # GGUF order: (in, out)
    arch_enum = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch), None)
    if arch_enum is None:
        raise AdapterError(f"the base model's architecture {arch!r} is unknown to the gguf package; cannot convert")
    names = gguf.get_tensor_name_map(arch_enum, blocks)

    with safe_open(str(weights), framework="pt") as f:  # through torch: numpy has no bfloat16 (adapters saved in bf16)
        tensors = {key: f.get_tensor(key).float().numpy() for key in f.keys()}
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        for part in ("lora_A", "lora_B"):
            if f".{part}." in key:
                module = key.split(f".{part}.")[0].removeprefix("base_model.model.")
                pairs.setdefault(module, {})[part] = value
                break
        else:
            raise AdapterError(f"{adapter_dir}: tensor {key!r} is not a LoRA A/B matrix; llama.cpp cannot load it")

    writer = gguf.GGUFWriter(str(out_path), arch=arch)
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"lora_A", "lora_B"}:
            raise AdapterError(f"{adapter_dir}: module {module!r} has only {sorted(ab)}")
        target = names.get_name(module + ".weight", try_suffixes=(".weight",)) or names.get_name(module)
        if target is None or target.removesuffix(".weight") + ".weight" not in base_shapes:
            raise AdapterError(f"{adapter_dir}: the base model has no tensor for module {module!r} "
                               f"(was the adapter trained for another model than {Path(base_gguf).name}?)")
        target = target.removesuffix(".weight") + ".weight"
        a = np.ascontiguousarray(ab["lora_A"], dtype=np.float32)  # (r, in)
        b = np.ascontiguousarray(ab["lora_B"], dtype=np.float32)  # (out, r)
        want_in, want_out = base_shapes[target][0], base_shapes[target][1]
        if a.shape[1] != want_in or b.shape[0] != want_out:
            raise AdapterError(f"{adapter_dir}: {module} is {a.shape[1]} -> {b.shape[0]} in the adapter but "
                               f"{want_in} -> {want_out} in {Path(base_gguf).name}; the adapter belongs to another model")
        if arch in _PERMUTED_ARCHS and module.endswith("q_proj"):
            b = np.ascontiguousarray(_permute(b, n_head))
        elif arch in _PERMUTED_ARCHS and module.endswith("k_proj"):
            b = np.ascontiguousarray(_permute(b, n_kv))
        writer.add_tensor(target + ".lora_a", a)
        writer.add_tensor(target + ".lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


def cached_peft_to_gguf_lora(adapter_dir: str | os.PathLike, base_gguf: str | os.PathLike,
                             cache_dir: str | os.PathLike | None = None) -> Path:
    """The converted GGUF of ``adapter_dir`` for ``base_gguf``, converted on first use and cached."""
    from augment.paths import cache_root, write_atomically

    adapter_dir = Path(adapter_dir).expanduser()
    h = hashlib.sha1(f"{_FORMAT}|{Path(base_gguf).resolve()}".encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        f = adapter_dir / name
        if f.is_file():
            h.update(f.read_bytes())
    folder = Path(cache_dir).expanduser() if cache_dir else cache_root() / "adapters"
    target = folder / f"{adapter_dir.name}-{h.hexdigest()[:12]}.gguf"
    if target.is_file():
        return target
    return write_atomically(target, lambda tmp: peft_to_gguf_lora(adapter_dir, base_gguf, tmp))
