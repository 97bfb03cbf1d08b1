"""Decode on the 4-bit weights a quantized model shipped with, through torch's int4 CPU kernel.

The embedded default model ships as a Q4_1 GGUF: every weight of its
decoder layers is ``d * q + m`` with ``q`` in 0..15 and one ``(d, m)`` per
group of 32 weights in a row. Loaded into transformers those weights become
bfloat16, four times the bytes; decoding one token reads all of them, and on
a CPU that read is what a decode pass waits for. Measured on the default
model (2-core AMD EPYC, bf16): the 210 layer matmuls of a one-token pass take
about half of it.

:func:`pack_4bit_linears` finds the linear layers whose weights are exactly
such a grid (it recovers ``q``, ``d`` and ``m`` from the loaded weights and
keeps a layer only when every weight is reproduced within the rounding of its
dtype, so nothing is re-quantized) and gives them a second copy in torch's
packed int4 layout. A forward pass over at most ``max_rows`` rows (a decode
step, drafted tokens included) then runs ``torch.ops.aten._weight_int4pack_mm_for_cpu``
on that copy; longer ones (prefill) keep the ordinary matmul, which is faster
there. Same weights, a quarter of the bytes (an eighth of a float32 model's).

Folded adapters: :class:`augment.llm.lora.AdapterMixin` folds a LoRA
adapter into the model's weights (prefill uses them) and hands the packed
layers the adapter's two small matrices (:func:`set_side`), which decode adds
beside the 4-bit product: ``x @ W_q + (x @ A) @ (s * B)``, the small product in float32. An adapter of another
kind turns the packed path off for its layers while it is folded.

Only on CPU, for bfloat16 and float32 models. The kernel takes its scales in
the activations' dtype and is 10x slower than a float32 matmul on float32
inputs, so a float32 model's packed layers cast the (one to 16) rows to
bfloat16 for the kernel and the product back: on the default model in float32
this decodes 1.7-1.9x faster (measured on a 2-core AMD EPYC, 17.5-18.9 against
30-35 tokens/s, also with ATen and oneDNN limited to AVX2 as on a CPU without
native bf16) and picks the unpacked model's next token at 177 of 178 positions.
Never with autograd on (training uses
the ordinary weights). A weight changed in place afterwards (an optimizer step,
``load_state_dict``: anything that bumps the parameter's version) drops its
packed copy at the next call.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["GROUP", "grid_4bit", "int4_linear", "pack_4bit_linears", "unpack_4bit_linears", "packed_layers", "set_side"]

#: weights per (scale, offset) pair along a row: the GGUF Q4_0/Q4_1 block, and the group the kernel takes
GROUP = 32
#: off: the side for a folded adapter that is not plain LoRA (the layer uses its folded weights)
OFF = "off"


def grid_4bit(weight: Any, group: int = GROUP) -> tuple[Any, Any, Any] | None:
    """``(q, scale, zero)`` when each group of ``group`` weights in a row is ``scale * (q - 8) + zero``, else None.

    ``q`` is int32 in 0..15 (shape of ``weight``); ``scale`` and ``zero`` are float32
    ``[rows, columns // group]``. A group's smallest weight is taken as ``q = 0`` and
    its largest as ``q = 15`` (as GGUF's Q4_1 quantizer sets them); the grid is kept
    only when it reproduces every weight within the rounding of ``weight``'s dtype.
    """
    import torch

    rows, cols = weight.shape
    if cols % group or weight.dtype not in (torch.bfloat16, torch.float16, torch.float32):
        return None
    w = weight.detach().float().reshape(rows, cols // group, group)
    lo, hi = w.amin(-1, keepdim=True), w.amax(-1, keepdim=True)
    step = (hi - lo) / 15
    safe = torch.where(step > 0, step, torch.ones_like(step))
    q = ((w - lo) / safe).round().clamp_(0, 15)
    rebuilt = q * step + lo
    # the dtype's rounding of each weight, plus that of the group's ends from which step and lo came
    eps = torch.finfo(weight.dtype).eps
    tolerance = eps * (w.abs() + 2 * torch.maximum(lo.abs(), hi.abs()))
    if not bool(((rebuilt - w).abs() <= tolerance).all()):
        return None
    step = step.squeeze(-1)
    return q.reshape(rows, cols).to(torch.int32), step, lo.squeeze(-1) + 8 * step


def _forward(self: Any, x: Any) -> Any:
    """A packed ``nn.Linear``'s forward: the int4 kernel for short inputs without autograd, else the usual one."""
    import torch

    packed = self._augment_int4
    side = packed["side"]
    rows = x.numel() // x.shape[-1] if x.numel() else 0
    if (not 0 < rows <= packed["max_rows"] or side is OFF or torch.is_grad_enabled() or x.dtype != packed["dtype"]
            or x.device.type != "cpu"):  # moved to a GPU since: the packed copy stays on CPU
        return torch.nn.functional.linear(x, self.weight, self.bias)
    if self.weight._version != packed["version"]:  # trained or loaded in place since: the copy is stale
        del self._augment_int4, self.forward
        return torch.nn.functional.linear(x, self.weight, self.bias)
    out = int4_linear(x.reshape(rows, x.shape[-1]), packed["weight"], packed["scales"], side)
    if self.bias is not None:
        out += self.bias
    return out.reshape(*x.shape[:-1], out.shape[-1])


def int4_linear(x: Any, weight: Any, scales: Any, side: tuple[Any, Any] | None) -> Any:
    """``x @ W^T`` for 2-D ``x`` on packed int4 weights, plus a folded adapter's ``side = (A^T, s * B^T)``."""
    import torch

    # a float32 model's rows go to the kernel in bfloat16, its scales' dtype (it is 10x slower on float32 ones);
    # ``.to`` is a no-op for a bfloat16 model
    out = torch.ops.aten._weight_int4pack_mm_for_cpu(x.to(scales.dtype), weight, GROUP, scales).to(x.dtype)
    if side is not None:  # in float32: oneDNN's bfloat16 matmuls of rank 8 cost ~20 us each, MKL's float32 ones ~2.5
        out += (x.float() @ side[0]) @ side[1]
    return out


def pack_4bit_linears(model: Any, max_rows: int = 16) -> int:
    """Give each ``nn.Linear`` of ``model`` whose weights lie on a 4-bit grid a packed int4 copy; return how many.

    Only for a bfloat16 or float32 model on CPU (returns 0 otherwise, and when torch has no
    int4 CPU kernel); the kernel's scales are bfloat16 in both. Adapter matrices (``lora_*``) are left alone.
    """
    import torch

    if not hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu"):
        return 0
    count = 0
    for name, module in model.named_modules():
        if (type(module) is not torch.nn.Linear or "lora_" in name or hasattr(module, "_augment_int4")
                or module.weight.device.type != "cpu" or module.weight.dtype not in (torch.bfloat16, torch.float32)
                or module.out_features % 8):
            continue
        grid = grid_4bit(module.weight)
        if grid is None:
            continue
        q, scale, _ = grid
        dtype = module.weight.dtype
        scale, zero = _rounded_scales(module.weight, q, scale, torch.bfloat16)
        module._augment_int4 = {
            "weight": torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1),
            "scales": torch.stack([scale.t(), zero.t()], dim=-1).contiguous(),
            "max_rows": max_rows, "dtype": dtype, "side": None, "version": module.weight._version,
        }
        module.forward = types.MethodType(_forward, module)
        count += 1
    return count


def _rounded_scales(weight: Any, q: Any, scale: Any, dtype: Any) -> tuple[Any, Any]:
    """The kernel's ``(scale, zero)`` in ``dtype``: the scale rounded, then the zero that best fits the group.

    The kernel takes both in the activations' dtype; in bfloat16 a rounded
    ``zero = lo + 8 * scale`` shifts all 32 weights of a group alike. Refitting the
    zero to the group's weights after rounding the scale (their mean residual)
    cuts that shared error (measured on the default model's 210 layers, against
    its exact float32 weights: root-mean-square error 3.9 -> 3.6, per-group mean
    error 2.1 -> 1.5, in units where bfloat16 rounding of each weight gives 2.7 and 0.7).
    """
    rows, cols = weight.shape
    scale = scale.to(dtype)
    centred = (q.float() - 8).reshape(rows, cols // GROUP, GROUP) * scale.float().unsqueeze(-1)
    zero = (weight.detach().float().reshape(rows, cols // GROUP, GROUP) - centred).mean(-1)
    return scale, zero.to(dtype)


def packed_layers(model: Any) -> list[Any]:
    """The linear layers :func:`pack_4bit_linears` packed."""
    return [m for m in model.modules() if hasattr(m, "_augment_int4")]


def unpack_4bit_linears(model: Any) -> int:
    """Drop the packed copies: every layer runs its ordinary weights again. Returns how many there were."""
    layers = packed_layers(model)
    for module in layers:
        del module._augment_int4
        del module.forward  # the class's forward again
    return len(layers)


def set_side(tuner_layer: Any, adapter: str | None) -> None:
    """Tell a PEFT layer's packed base layer which folded adapter to add beside the 4-bit product.

    ``adapter=None`` (or one that does not adapt this layer): nothing to add. A plain LoRA adapter gives ``(A^T, scaling * B^T)`` in float32;
    any other kind (DoRA, another tuner) turns the packed path off while it is folded.
    """
    base = getattr(tuner_layer, "base_layer", None)
    packed = getattr(base, "_augment_int4", None)
    if packed is None:
        return
    if adapter is None or adapter not in getattr(tuner_layer, "merged_adapters", ()):
        packed["side"] = None  # nothing folded into this layer
        return
    lora_a, lora_b = getattr(tuner_layer, "lora_A", {}), getattr(tuner_layer, "lora_B", {})
    dora = getattr(tuner_layer, "use_dora", {}).get(adapter, False)
    if adapter not in lora_a or adapter not in lora_b or dora or getattr(tuner_layer, "lora_bias", {}).get(adapter):
        packed["side"] = OFF
        return
    scaling = float(tuner_layer.scaling[adapter])
    down = lora_a[adapter].weight.detach().float().t().contiguous()
    up = (lora_b[adapter].weight.detach().float() * scaling).t().contiguous()
    packed["side"] = (down, up)
