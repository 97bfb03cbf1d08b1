"""Decode passes of a Llama-architecture model without transformers' per-call machinery.

On a 135M model on a CPU a decode pass is many small operations, and the
cost of calling them is much of the pass. Measured on the default model
(bfloat16 with 4-bit decode and the shipped adapter, 2-core AMD EPYC, a
1,000-token context): a one-token pass through ``model(...)`` took 38 ms, of
which the kernels took about 30; the rest was transformers' wrappers (output
recorders, mask building, the attention-function registry), and inside the
kernels the ``DynamicCache`` copied every layer's keys and values on each
token (``torch.cat``) and the float32 attention converted the whole bfloat16
cache again on each token.

:class:`FastDecoder` runs the same layers in plain torch:

* the keys and values live in float32 buffers allocated once per reply
  (:meth:`FastDecoder.start` copies the prompt's cache into them), so a pass
  writes only its own positions and attention reads them without a conversion;
  dropping rejected drafted tokens is setting a length;
* attention over the cache is three batched products in float32 (the
  query heads of a key/value head grouped together, no ``repeat_kv``);
* each projection is resolved once per reply to the cheapest equivalent call:
  the int4 kernel of a packed layer (:mod:`augment.llm.packed`) with its folded
  adapter's side, ``F.linear`` for a plain or merged layer, the module itself
  for anything else (an unmerged adapter, another tuner), so adapters give the
  same results as through ``model(...)``;
* normalisation, rotary embedding and the MLP do the arithmetic transformers'
  Llama does, op for op, in the model's dtype.

The numbers differ from ``model(...)``'s only in how attention sums (tested:
logits agree to float32 rounding in float32 and to bfloat16 rounding in bfloat16).
Used by :func:`augment.llm.lookahead.greedy_decode` for every pass after the
prompt, so a reply does not depend on whether the prompt's blocks came from the
prefix cache. Only for Llama-family models (``LlamaForCausalLM``, plain or
under PEFT) on CPU with full attention and non-dynamic rotary embeddings;
anything else decodes through ``model(...)`` as before
(:func:`FastDecoder.build` returns None).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["FastDecoder", "FastSession"]

#: rotary-embedding types whose angles depend only on the position (not on the sequence length)
_STATIC_ROPE = {"default", "linear", "llama3", "yarn", None}


class FastDecoder:
    """The decode pass of one Llama-family model; :meth:`build` it, then :meth:`start` a session per reply."""

    def __init__(self, model: Any, base: Any):
        self.model, self.base = model, base
        cfg = base.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        #: joined int4 weights of packed layers, kept between replies (see :func:`_projection`)
        self.fused: dict = {}
        self.eps = [(layer.input_layernorm.variance_epsilon, layer.post_attention_layernorm.variance_epsilon)
                    for layer in base.model.layers]

    @classmethod
    def build(cls, model: Any) -> "FastDecoder | None":
        """A decoder for ``model`` when it is a Llama-family causal LM on CPU that this path reproduces, else None."""
        try:
            from transformers.models.llama import modeling_llama as ml
        except ImportError:  # pragma: no cover - transformers is a core dependency
            return None
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        cfg = getattr(base, "config", None)
        if type(base) is not ml.LlamaForCausalLM or cfg is None or getattr(cfg, "is_encoder_decoder", False):
            return None
        rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
        if (rope not in _STATIC_ROPE or getattr(cfg, "hidden_act", "silu") != "silu"
                or getattr(cfg, "pretraining_tp", 1) not in (None, 1)
                or any(t not in (None, "full_attention") for t in (getattr(cfg, "layer_types", None) or []))):
            return None
        decoder = base.model
        if type(decoder) is not ml.LlamaModel or type(decoder.rotary_emb) is not ml.LlamaRotaryEmbedding:
            return None
        for layer in decoder.layers:
            if (type(layer) is not ml.LlamaDecoderLayer or type(layer.self_attn) is not ml.LlamaAttention
                    or type(layer.mlp) is not ml.LlamaMLP or type(layer.input_layernorm) is not ml.LlamaRMSNorm
                    or type(layer.post_attention_layernorm) is not ml.LlamaRMSNorm):
                return None
        if type(decoder.norm) is not ml.LlamaRMSNorm or next(base.parameters()).device.type != "cpu":
            return None
        return cls(model, base)

    def start(self, cache: Any, capacity: int) -> "FastSession":
        """A session holding ``cache`` (a one-row ``DynamicCache``) in buffers for ``capacity`` positions."""
        return FastSession(self, cache, capacity)


def _resolve(module: Any) -> Any:
    """What ``module(x)`` amounts to for the rest of this reply: a plain ``nn.Linear``, or the module itself.

    A PEFT layer whose active adapters are all folded into its weights (or that has
    none on) amounts to its base layer; one with an adapter still unfolded is kept whole.
    """
    tuner = getattr(module, "base_layer", None)
    if tuner is not None:
        active = list(getattr(module, "active_adapters", []) or [])
        merged = set(getattr(module, "merged_adapters", []) or [])
        adapted = [a for a in active if a in getattr(module, "lora_A", {}) or a in getattr(module, "lora_embedding_A", {})]
        if getattr(module, "disable_adapters", False) or all(a in merged for a in adapted):
            return _resolve(tuner)
        return module
    return module


def _packed(linear: Any) -> dict | None:
    """The live packed int4 copy of a resolved ``nn.Linear`` (:mod:`augment.llm.packed`), or None."""
    import torch

    from augment.llm.packed import OFF

    packed = getattr(linear, "_augment_int4", None) if type(linear) is torch.nn.Linear else None
    if (packed is None or packed["side"] is OFF or linear.weight._version != packed["version"]
            or linear.bias is not None):
        return None
    return packed


#: torch's CPU int4 layout packs output rows in blocks of this many: packed layers join only in whole blocks
_PACK_BLOCK = 64


def _projection(modules: list[Any], fused: dict, key: Any) -> Callable[[Any], Any]:
    """One call computing ``cat([m(x) for m in modules], -1)`` for 2-D ``x``, the cheapest way this reply allows.

    Packed layers whose widths are whole blocks of 64 rows are joined into one int4
    product (the packed rows then concatenate), their folded adapters' sides into
    one pair of float32 products (the down matrices side by side, the up ones
    block-diagonal). ``fused`` caches the joined int4 weights under ``key``.
    """
    import torch

    resolved = [_resolve(m) for m in modules]
    packs = [_packed(m) for m in resolved]
    if len(packs) == 1 or (all(p is not None for p in packs) and len({p["max_rows"] for p in packs}) == 1
                           and all(m.out_features % _PACK_BLOCK == 0 for m in resolved)):
        if packs[0] is not None:
            stamp = tuple((id(p), p["version"]) for p in packs)
            hit = fused.get(key)
            if hit is None or hit[0] != stamp:
                weight = packs[0]["weight"] if len(packs) == 1 else torch.cat([p["weight"] for p in packs])
                scales = packs[0]["scales"] if len(packs) == 1 else torch.cat([p["scales"] for p in packs], dim=1)
                hit = fused[key] = (stamp, weight, scales)
            side = _joined_sides([p["side"] for p in packs], [m.out_features for m in resolved])
            return _int4(hit[1], hit[2], side, packs[0]["max_rows"], [m.weight for m in resolved])
    calls = [_projection([m], fused, (key, j)) if _packed(m) is not None else
             (lambda x, w=m.weight, b=m.bias: torch.nn.functional.linear(x, w, b)) if type(m) is torch.nn.Linear else m
             for j, m in enumerate(resolved)]
    if len(calls) == 1:
        return calls[0]
    return lambda x: torch.cat([c(x) for c in calls], dim=-1)


def _int4(weight: Any, scales: Any, side: Any, rows: int, whole: list[Any]) -> Callable[[Any], Any]:
    """``x -> x @ W^T`` on packed int4 weights plus a folded adapter's side; longer inputs use the ordinary weights."""
    import torch

    from augment.llm.packed import int4_linear

    def run(x: Any) -> Any:
        if x.shape[0] > rows:
            return torch.nn.functional.linear(x, whole[0] if len(whole) == 1 else torch.cat(whole))
        return int4_linear(x, weight, scales, side)

    return run


def _half_head(head: Any, fused: dict, probe: Any, plain: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A float32 model's output head on a float16 copy where its layers decode on 4-bit weights (``probe`` is
    packed), else ``plain`` (the head as it is).

    The default model's head is 49,152 x 576 (Q8_0 in the file: 8-bit levels times a float16
    scale, so float16 keeps 11 bits of each weight where bfloat16 keeps 8). Measured on 2 cores
    (AMD EPYC; also with ATen and oneDNN held to AVX2, as on a CPU without native bf16): one row
    10-11 ms in float32 against 2.2-2.4 ms in float16, nine rows 22 against 14-16 ms; in the
    float32 default model that took decode from 29-33 to 43-47 tokens/s. A bfloat16 model keeps
    its head (one row 2-4 ms; nine rows 5.5 ms with native bf16, 16 ms in float16).
    ``fused`` keeps the copy between replies.
    """
    import torch

    head = _resolve(head)
    if (type(head) is not torch.nn.Linear or head.weight.dtype != torch.float32 or head.bias is not None
            or _packed(_resolve(probe)) is None):
        return plain
    stamp = (id(head.weight), head.weight._version)
    hit = fused.get("head16")
    if hit is None or hit[0] != stamp:
        hit = fused["head16"] = (stamp, head.weight.detach().half())
    weight = hit[1]
    return lambda x: torch.nn.functional.linear(x.half(), weight).float()


def _joined_sides(sides: list[Any], widths: list[int]) -> tuple[Any, Any] | None:
    """The folded adapters of several layers as one ``(down, up)`` pair, or None when none has one."""
    import torch

    if all(s is None for s in sides):
        return None
    if len(sides) == 1:
        return sides[0]
    downs = [s[0] for s in sides if s is not None]
    up = torch.zeros(sum(d.shape[1] for d in downs), sum(widths))
    offset = col = 0
    for s, width in zip(sides, widths):
        if s is not None:
            r = s[0].shape[1]
            up[offset:offset + r, col:col + width] = s[1]
            offset += r
        col += width
    return torch.cat(downs, dim=1).contiguous(), up


class FastSession:
    """One reply's decode state: the key/value buffers, their filled length and the resolved projections."""

    def __init__(self, decoder: FastDecoder, cache: Any, capacity: int):
        import torch

        self.d = decoder
        base = decoder.base
        layers = base.model.layers
        keys0 = cache.layers[0].keys if getattr(cache, "layers", None) and cache.layers[0].keys is not None else None
        self.length = 0 if keys0 is None else int(keys0.shape[-2])
        self.dtype = base.model.embed_tokens.weight.dtype
        capacity = max(capacity, self.length + 1)
        shape = (decoder.kv_heads, capacity, decoder.head_dim)
        self.keys = [torch.empty(shape, dtype=torch.float32) for _ in layers]
        self.values = [torch.empty(shape, dtype=torch.float32) for _ in layers]
        if self.length:
            for i, layer in enumerate(cache.layers):
                self.keys[i][:, : self.length].copy_(layer.keys[0])
                self.values[i][:, : self.length].copy_(layer.values[0])
        self.cos, self.sin = self._rotary(capacity)
        self.capacity = capacity
        fused = decoder.fused
        self.embed = _resolve(base.model.embed_tokens)
        self.head = _half_head(base.lm_head, fused, layers[0].self_attn.q_proj, _projection([base.lm_head], fused, "head"))
        self.layers = []
        for i, layer in enumerate(layers):
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append((
                _projection([att.q_proj, att.k_proj, att.v_proj], fused, (i, "qkv")),
                _projection([att.o_proj], fused, (i, "o")),
                _projection([mlp.gate_proj, mlp.up_proj], fused, (i, "gate_up")),
                _projection([mlp.down_proj], fused, (i, "down")),
                layer.input_layernorm.weight, layer.post_attention_layernorm.weight, mlp.intermediate_size))
        self.final_norm = base.model.norm.weight, base.model.norm.variance_epsilon

    def crop(self, length: int) -> None:
        """Forget the positions from ``length`` on (rejected drafts)."""
        self.length = min(self.length, length)

    @staticmethod
    def _norm(x: Any, weight: Any, eps: float) -> Any:
        """Llama's RMSNorm, op for op (float32 inside, the product with the weight in the input's dtype)."""
        import torch

        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return weight * h.to(x.dtype)

    def run(self, tokens: list[int], keep: int | None = None) -> Any:
        """Append ``tokens`` and return the logits of the last ``keep`` of them (default all), float32 ``[keep, vocab]``."""
        import torch

        d = self.d
        n, start = len(tokens), self.length
        end = start + n
        if end > self.capacity:
            self._grow(end)
        x = self.embed(torch.tensor(tokens))
        heads, kv, dim = d.heads, d.kv_heads, d.head_dim
        group = heads // kv
        cos, sin = self.cos[start:end], self.sin[start:end]
        half = dim // 2
        scale = dim ** -0.5
        mask = None
        if n > 1:  # drafted tokens: each sees the cache and the drafted tokens before it
            rows = torch.arange(start, end).unsqueeze(1)
            mask = torch.zeros(n, end).masked_fill_(torch.arange(end).unsqueeze(0) > rows, float("-inf"))
        q_width, k_width = heads * dim, kv * dim
        for i, (qkv, po, gate_up, pd, w_in, w_post, inner) in enumerate(self.layers):
            eps_in, eps_post = d.eps[i]
            h = self._norm(x, w_in, eps_in)
            mixed = qkv(h)
            qk = mixed[:, : q_width + k_width].view(n, heads + kv, dim)
            qk = qk * cos + torch.roll(qk, half, -1) * sin
            q, k = qk[:, :heads], qk[:, heads:]
            v = mixed[:, q_width + k_width:].view(n, kv, dim)
            keys, values = self.keys[i], self.values[i]
            keys[:, start:end].copy_(k.transpose(0, 1))
            values[:, start:end].copy_(v.transpose(0, 1))
            qg = q.float().view(n, kv, group, dim).permute(1, 2, 0, 3).reshape(kv, group * n, dim)
            scores = torch.bmm(qg, keys[:, :end].transpose(1, 2)).mul_(scale)
            if mask is not None:
                scores = scores.view(kv, group, n, end).add_(mask).view(kv, group * n, end)
            probs = torch.softmax(scores, dim=-1)
            att = torch.bmm(probs, values[:, :end]).view(kv, group, n, dim).permute(2, 0, 1, 3).reshape(n, heads * dim)
            x = x + po(att.to(x.dtype))
            h = self._norm(x, w_post, eps_post)
            gu = gate_up(h)
            x = x + pd(torch.nn.functional.silu(gu[:, :inner]) * gu[:, inner:])
        weight, eps = self.final_norm
        self.length = end
        if keep is not None and keep < n:
            x = x[n - keep:]
        return self.head(self._norm(x, weight, eps)).float()

    def _grow(self, need: int) -> None:
        """More room (a reply longer than planned): double the buffers and the rotary tables."""
        import torch

        capacity = max(need, 2 * self.capacity)
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                new = torch.empty((old.shape[0], capacity, old.shape[2]), dtype=old.dtype)
                new[:, : self.length].copy_(old[:, : self.length])
                store[i] = new
        self.cos, self.sin = self._rotary(capacity)
        self.capacity = capacity

    def _rotary(self, capacity: int) -> tuple[Any, Any]:
        """The model's rotary ``(cos, sin)`` for positions ``0..capacity-1``, each ``[capacity, 1, head_dim]``;
        ``sin`` has its first half negated, since ``rotate_half(x) * sin == roll(x, half) * that``, exactly."""
        import torch

        half = self.d.head_dim // 2
        cos, sin = self.d.base.model.rotary_emb(torch.empty(0, dtype=self.dtype), torch.arange(capacity).unsqueeze(0))
        return cos[0].unsqueeze(1), torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1).unsqueeze(1)
