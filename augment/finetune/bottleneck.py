"""Bottleneck adapters (Houlsby et al. 2019): small MLPs after the attention and feed-forward blocks.

Each adapter maps the block's output ``h`` to ``h + up(act(down(h)))``; ``up``
starts at zero so the model is unchanged before training. They are attached
with forward hooks (the model's code is not touched) and registered as a
sub-module ``augment_adapters`` so they move with ``.to()``, appear in
``parameters()`` and in the state dict. Adapters compute in float32 even on a
bf16 model. (This module imports torch; ``augment.finetune`` loads it lazily.)

>>> import torch
>>> block = torch.nn.Linear(8, 8)
>>> a = BottleneckAdapter(8, 2)
>>> bool(torch.equal(a(torch.ones(1, 8)), torch.ones(1, 8)))   # identity at init
True
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch

from augment.errors import ConfigError

__all__ = ["BottleneckAdapter", "add_bottleneck_adapters", "ADAPTER_TARGETS"]

# model_type -> regexes of the module names whose output gets an adapter (after attention, after the FFN)
ADAPTER_TARGETS: dict[str, list[str]] = {
    "llama": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "mistral": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "qwen2": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "qwen3": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "gemma": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "phi3": [r"layers\.\d+\.self_attn$", r"layers\.\d+\.mlp$"],
    "gpt2": [r"h\.\d+\.attn$", r"h\.\d+\.mlp$"],
    "bert": [r"layer\.\d+\.attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "roberta": [r"layer\.\d+\.attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "distilbert": [r"layer\.\d+\.attention\.out_lin$", r"layer\.\d+\.ffn\.lin2$"],
    "t5": [r"block\.\d+\.layer\.0\.SelfAttention$", r"block\.\d+\.layer\.\d+\.DenseReluDense$"],
}


class BottleneckAdapter(torch.nn.Module):
    """``h -> h + up(act(down(h)))`` with ``up`` initialised to zero (identity at start)."""

    def __init__(self, hidden: int, bottleneck: int = 64, activation: str = "gelu"):
        super().__init__()
        self.down = torch.nn.Linear(hidden, bottleneck)
        self.up = torch.nn.Linear(bottleneck, hidden)
        acts = {"gelu": torch.nn.GELU, "relu": torch.nn.ReLU, "silu": torch.nn.SiLU, "tanh": torch.nn.Tanh}
        if activation not in acts:
            raise ConfigError(f"adapter activation {activation!r} unknown; use one of {sorted(acts)}")
        self.act = acts[activation]()
        torch.nn.init.normal_(self.down.weight, std=1e-2)
        torch.nn.init.zeros_(self.down.bias)
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.up.bias)

    def forward(self, h):
        return h + self.up(self.act(self.down(h.to(self.down.weight.dtype)))).to(h.dtype)


def _hidden_size(config: Any) -> int:
    for name in ("hidden_size", "d_model", "n_embd", "dim"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    raise ConfigError("cannot find the model's hidden size in its config (hidden_size / d_model / n_embd)")


def add_bottleneck_adapters(
    model: Any,
    *,
    bottleneck: int = 64,
    activation: str = "gelu",
    target_modules: Sequence[str] | None = None,
) -> list[str]:
    """Insert adapters after the blocks matched by ``target_modules`` (regexes on module names;
    default from :data:`ADAPTER_TARGETS` for the model type). Returns the adapted module names."""
    if hasattr(model, "augment_adapters"):
        raise ConfigError("this model already has bottleneck adapters")
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    patterns = list(target_modules) if target_modules else ADAPTER_TARGETS.get(model_type or "")
    if not patterns:
        raise ConfigError(
            f"no default adapter placement for model type {model_type!r}; pass target_modules=[regex, ...] "
            f"naming the attention and feed-forward blocks (known types: {sorted(ADAPTER_TARGETS)})"
        )
    hidden = _hidden_size(config)
    regexes = [re.compile(p) for p in patterns]
    names = [n for n, _ in model.named_modules() if n and any(r.search(n) for r in regexes)]
    if not names:
        raise ConfigError(f"target_modules {patterns} matched no module of this {model_type} model")
    device = next(model.parameters()).device
    bank = torch.nn.ModuleDict()
    modules = dict(model.named_modules())
    for name in names:
        adapter = BottleneckAdapter(hidden, bottleneck, activation).to(device=device, dtype=torch.float32)
        key = name.replace(".", "__")
        bank[key] = adapter
        modules[name].register_forward_hook(_make_hook(adapter))
    model.add_module("augment_adapters", bank)
    return names


def _make_hook(adapter: Any):
    def hook(module, inputs, output):
        if isinstance(output, tuple):
            return (adapter(output[0]),) + tuple(output[1:])
        if hasattr(output, "last_hidden_state"):
            output.last_hidden_state = adapter(output.last_hidden_state)
            return output
        return adapter(output)

    return hook
