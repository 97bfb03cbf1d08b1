"""Prefix KV-cache reuse for :class:`~augment.llm.transformers.TransformersLLM`.

An agent step, a chat turn or a RAG question re-sends a prompt that starts
like the last one (the system prompt, the tool schemas, the earlier turns).
:class:`PrefixCache` keeps the key/value tensors of recent prompts, in whole
blocks, and on the next call :func:`block_prefill` starts from the longest
common prefix of whole blocks, so only the blocks after it are computed.

Correct by construction, bit for bit, in any dtype:

* a one-row prompt is always prefilled the same way, cache or not
  (:func:`block_prefill`): the tokens before the last block boundary are run
  in blocks at fixed positions (a size, or a schedule of sizes whose last one
  repeats: :func:`block_ends`), then ``generate`` runs the rest. A cached block is the very tensor that computing it again
  would give, so reusing it changes nothing. (Prefilling a prefix in one pass
  and the rest later is not the same arithmetic as one pass over all of it:
  in bfloat16 that flipped greedy answers of the default model.)
* on CPU the blocks still to compute run as one pass (:func:`prefill_blocks`):
  every matrix product over all their rows at once, and attention block by
  block, each block's queries against the keys up to its end, exactly as in a
  pass of its own. The products give each row the same bits whatever the
  number of rows (checked in bfloat16 and float32; tested), so the keys and
  values are bit for bit those of one pass per block, and larger products
  run faster: the 1,085-token RAG prompt of ``tools/bench_agent_step.py``
  took 1.17 against 1.40 s in bfloat16 and 1.75 against 2.29 s in float32
  (2 cores, alternating; AMD EPYC with AVX512-BF16), 2.35 against 2.86-3.10 s
  in float32 on an AVX2-only EPYC. GPUs keep one pass per block;
* only those blocks are stored and reused, never the reply's own cache (a
  reply is decoded token by token, another arithmetic again);
* entries are keyed by the weights in use: the adapter name, the model
  object, and the version counters of its parameters (a merge, an adapter
  load or a training step changes them, so stale entries are never matched);
* the stored tensors are never written: each call gets a fresh cache built
  from slices of them (the model appends with ``torch.cat``);
* only plain full-attention caches (``DynamicLayer``) are used; sliding-window
  or hybrid caches, batches (padded rows) and encoder-decoder models bypass it.

Bounded: at most ``max_entries`` prompts and ``max_bytes`` of tensors, least
recently used dropped first; an entry whose tokens extend another replaces it.

>>> cache = PrefixCache(max_entries=4, max_bytes=64 << 20)
>>> cache.stats()["entries"]
0
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

from augment.errors import ConfigError

__all__ = ["PrefixCache", "block_prefill", "block_ends", "common_prefix_length", "weights_key", "cache_kwarg",
           "extend_cache", "PREFILL_BLOCKS", "prefill_blocks"]

#: ``(start, block ends, {block start: its attention mask})`` of the prompt pass running now
#: (see :func:`prefill_blocks`), else None
PREFILL_BLOCKS: ContextVar[tuple[int, tuple[int, ...], dict] | None] = ContextVar("augment_prefill_blocks", default=None)


@contextlib.contextmanager
def prefill_blocks(start: int, ends: Sequence[int]) -> Any:
    """Within it, a model pass over the positions ``start .. ends[-1]`` computes attention block by block
    (the blocks ending at ``ends``): what :func:`augment.llm._hf._cpu_sdpa` reads."""
    token = PREFILL_BLOCKS.set((start, tuple(ends), {}))
    try:
        yield
    finally:
        PREFILL_BLOCKS.reset(token)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` share.

    >>> common_prefix_length([1, 2, 3, 4], [1, 2, 9])
    2
    """
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def weights_key(model: Any, adapter: str | None) -> Hashable:
    """What the cached tensors depend on: the adapter, the model object and its parameters' versions.

    ``Tensor._version`` grows on every in-place change (an optimizer step, a
    ``load_state_dict``, a merge), so a changed model never matches old entries.
    """
    try:
        version = sum(p._version for p in model.parameters())
    except RuntimeError:  # parameters created under torch.inference_mode() track no version
        version = -1
    return (adapter, id(model), version)


def cache_kwarg() -> str:
    """The ``generate`` keyword that takes a cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    return "cache" if "cache" in getattr(GenerateDecoderOnlyOutput, "__dataclass_fields__", {}) else "past_key_values"


@dataclass
class _Entry:
    key: Hashable
    tokens: list[int]
    layers: list[tuple[Any, Any]]  # (keys, values) per layer, shape [1, heads, len(tokens), head_dim]
    nbytes: int = field(default=0)


class PrefixCache:
    """An LRU store of key/value caches of recent prompts, reused by longest common token prefix.

    ``max_entries``: prompts kept; ``max_bytes``: total size of the kept tensors
    (default 512 MiB; SmolLM2-135M in float32 takes 46 KB a token, so 512 MiB
    holds about 11,000 tokens). ``min_reuse``: shortest prefix worth reusing.

    Used by :class:`~augment.llm.transformers.TransformersLLM` (``prefix_cache=``
    ``True`` (default), ``False`` or a ``PrefixCache``)::

        llm = load_llm(prefix_cache=PrefixCache(max_entries=2, max_bytes=128 << 20))
        llm.complete([...]); llm.complete([... one more turn])   # the 2nd call reuses the 1st prompt
        llm.prefix_cache.stats()   # {'hits': 1, 'reused_tokens': ..., ...}
        llm.clear_prefix_cache()
    """

    def __init__(self, max_entries: int = 8, max_bytes: int = 512 << 20, min_reuse: int = 1):
        if max_entries < 1:
            raise ConfigError(f"PrefixCache(max_entries={max_entries}): keep at least 1 entry, or pass prefix_cache=False")
        if max_bytes < 1:
            raise ConfigError(f"PrefixCache(max_bytes={max_bytes}): give a positive size in bytes")
        self.max_entries, self.max_bytes, self.min_reuse = max_entries, max_bytes, max(1, min_reuse)
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._next = 0
        self.hits = self.misses = self.reused_tokens = self.computed_tokens = 0

    # ---- lookup ---------------------------------------------------------
    def lookup(self, key: Hashable, tokens: Sequence[int], align: int | Sequence[int] = 1,
               limit: int | None = None) -> Any | None:
        """A fresh ``DynamicCache`` holding the longest cached prefix of ``tokens``, or None.

        The prefix is at most ``limit`` tokens (default ``len(tokens) - 1``) and a
        multiple of ``align`` (an int), or one of the lengths ``align`` lists (block ends).
        """
        limit = len(tokens) - 1 if limit is None else limit
        best, best_len = None, 0
        with self._lock:
            for slot, entry in self._entries.items():
                if entry.key != key:
                    continue
                n = min(common_prefix_length(entry.tokens, tokens), limit)
                n = n - n % align if isinstance(align, int) else max((e for e in align if e <= n), default=0)
                if n > best_len:
                    best, best_len = slot, n
            if best is None or best_len < self.min_reuse:
                self.misses += 1
                self.computed_tokens += len(tokens)
                return None
            self._entries.move_to_end(best)
            entry = self._entries[best]
            self.hits += 1
            self.reused_tokens += best_len
            self.computed_tokens += len(tokens) - best_len
            layers = [(k[..., :best_len, :], v[..., :best_len, :]) for k, v in entry.layers]
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=layers)

    # ---- store ----------------------------------------------------------
    def store(self, key: Hashable, tokens: Sequence[int], cache: Any) -> bool:
        """Keep ``cache`` (the ``past_key_values`` after a call) for the first ``len(cache)`` of ``tokens``.

        Returns False (and keeps nothing) for caches that are not plain
        full-attention ``DynamicLayer`` lists of one row.
        """
        layers = _plain_layers(cache)
        if layers is None:
            return False
        length = int(layers[0][0].shape[-2])
        tokens = list(tokens[:length])
        if len(tokens) != length or length == 0:
            return False
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if nbytes > self.max_bytes:
            return False
        with self._lock:
            for slot, old in list(self._entries.items()):  # entries this one extends (or equals) are subsumed
                if old.key == key and len(old.tokens) <= length and tokens[: len(old.tokens)] == old.tokens:
                    del self._entries[slot]
            self._entries[self._next] = _Entry(key, tokens, layers, nbytes)
            self._next += 1
            while len(self._entries) > self.max_entries or self._bytes() > self.max_bytes:
                self._entries.popitem(last=False)
        return True

    def _bytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, int]:
        """``entries``, ``bytes``, ``hits``, ``misses``, ``reused_tokens``, ``computed_tokens`` (prompt tokens run)."""
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes(), "hits": self.hits, "misses": self.misses,
                    "reused_tokens": self.reused_tokens, "computed_tokens": self.computed_tokens}

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PrefixCache(max_entries={self.max_entries}, max_bytes={self.max_bytes}, entries={len(self)})"


def block_ends(block: int | Sequence[int], limit: int) -> list[int]:
    """The block boundaries up to ``limit``: multiples of ``block``, or for a schedule of sizes
    (the last one repeating) their running sums.

    >>> block_ends(64, 200)
    [64, 128, 192]
    >>> block_ends((64, 64, 64, 64, 256), 1100)
    [64, 128, 192, 256, 512, 768, 1024]
    """
    sizes = [block] if isinstance(block, int) else list(block)
    if not sizes or any(not isinstance(b, int) or b < 1 for b in sizes):
        raise ConfigError(f"prefill_block={block!r}; give a block size (64) or a schedule of sizes "
                          "whose last one repeats, e.g. (64, 64, 64, 64, 256)")
    ends, end, i = [], 0, 0
    while end + sizes[min(i, len(sizes) - 1)] <= limit:
        end += sizes[min(i, len(sizes) - 1)]
        ends.append(end)
        i += 1
    return ends


def block_prefill(model: Any, tokens: Sequence[int], block: int | Sequence[int], cache: PrefixCache | None = None,
                  key: Hashable = None) -> Any | None:
    """The ``DynamicCache`` of ``tokens[:m]``, ``m`` the last block boundary before the last token.

    Computed one block at a time at fixed positions (``block``: a size, or a
    schedule of sizes whose last one repeats, see :func:`block_ends`), taking the
    blocks ``cache`` already holds for ``key`` and this schedule, and storing the result there. None
    when the prompt is shorter than one block plus a token, or when the model's
    cache is not made of plain full-attention layers (then ``generate`` does
    the whole prefill itself). Caller holds the model's lock, in inference mode.
    """
    from transformers import DynamicCache

    ends = block_ends(block, len(tokens) - 1)
    if not ends:
        return None
    m = ends[-1]
    key = (key, block if isinstance(block, int) else tuple(block))  # blocks of another schedule are other arithmetic
    past = cache.lookup(key, tokens, align=ends, limit=m) if cache is not None else None
    done = 0 if past is None else past.get_seq_length()
    if past is None:
        past = DynamicCache(config=model.config)
    todo = [end for end in ends if end > done]
    if todo and _blockwise_attention(model):  # one pass, attention block by block (see the module docstring)
        with prefill_blocks(done, todo):
            extend_cache(model, tokens[done:m], past)
        if _plain_layers(past) is None:
            return None
    else:
        start = done
        for end in todo:
            extend_cache(model, tokens[start:end], past)
            start = end
            if _plain_layers(past) is None:
                return None  # sliding-window / hybrid attention: not safe to cut and reuse
    if cache is not None and m > done:
        cache.store(key, tokens[:m], past)
    return past


def _blockwise_attention(model: Any) -> bool:
    """Whether ``model`` prefills a prompt in one pass with attention block by block: a CPU model on
    :func:`augment.llm._hf._cpu_sdpa` (its matrix products give every row the same bits whatever the
    number of rows, tested; that is not assumed on GPUs, whose libraries pick kernels by shape)."""
    from augment.llm._hf import CPU_ATTENTION

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    try:
        device = next(base.parameters()).device.type
    except StopIteration:
        return False
    return device == "cpu" and getattr(config, "_attn_implementation", None) == CPU_ATTENTION


def extend_cache(model: Any, tokens: Sequence[int], cache: Any) -> None:
    """Run ``tokens`` through the model's decoder only, appending their keys and values to ``cache``.

    The output head is skipped: on SmolLM2-135M it is a 576 x 49,152 matrix,
    and computing it for positions nobody reads took about 40 ms per pass.
    Models whose decoder cannot be found run whole.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = _decoder(base)
    device = next(model.parameters()).device
    ids = torch.tensor([list(tokens)], device=device)
    if decoder is None:
        model(input_ids=ids, use_cache=True, **{cache_kwarg(): cache})
    else:
        decoder(input_ids=ids, use_cache=True, **{cache_kwarg(): cache})


def _decoder(base: Any) -> Any:
    """The decoder stack of a causal LM (``model.model`` for Llama-style models), or None."""
    try:
        decoder = base.get_decoder()
    except (AttributeError, NotImplementedError, ValueError):
        return None
    if decoder is None or decoder is base or not hasattr(decoder, "forward"):
        return None
    return decoder


def _plain_layers(cache: Any) -> list[tuple[Any, Any]] | None:
    """``[(keys, values)]`` of a one-row cache made only of full-attention ``DynamicLayer`` s, else None."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # pragma: no cover - transformers is a core dependency
        return None
    if type(cache) is not DynamicCache or not getattr(cache, "layers", None):
        return None
    out = []
    for layer in cache.layers:
        if type(layer) is not DynamicLayer or not layer.is_initialized or layer.keys is None:
            return None
        if layer.keys.dim() != 4 or layer.keys.shape[0] != 1:
            return None
        out.append((layer.keys, layer.values))
    lengths = {k.shape[-2] for k, _ in out}
    return out if len(lengths) == 1 else None
