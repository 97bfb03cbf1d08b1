"""Helpers of :mod:`augment.llm.transformers`: dtype/device choice, prompt rendering, stop strings.

Kept apart so the model class stays readable. Nothing here is public API.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import threading
from typing import Any

from augment import _cpu
from augment._cpu import cpu_has_fast_bf16  # noqa: F401  (re-exported: the check lives in augment._cpu)
from augment.errors import ConfigError
from augment.types import Message

__all__ = [
    "resolve_device",
    "resolve_dtype",
    "plain_prompt",
    "template_supports",
    "messages_for_template",
    "tools_system_text",
    "describe_tool",
    "render_prompt",
    "find_stop",
    "stop_holdback",
    "PLAIN_ROLE_NAMES",
    "TOOLS_SYSTEM_PROMPT",
    "GC_FREEZE_ENV",
    "freeze_import_heap",
]

#: role labels of the plain fallback format (tokenizers without a chat template)
PLAIN_ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}

#: how tools are described to a model whose chat template has no ``tools`` support: one compact
#: block per tool (name, description, one line per argument), not raw JSON schema. A small model
#: reads it better, and it is about a third of the tokens (each agent step re-reads it).
TOOLS_SYSTEM_PROMPT = "Tools:\n{tools}"


GC_FREEZE_ENV = "AUGMENT_GC_FREEZE"
"""Set to ``0`` to keep :func:`freeze_import_heap` from freezing anything."""

_FREEZE_LOCK = threading.Lock()
_FROZEN: list[int] = []


def freeze_import_heap() -> int:
    """Before the first local model loads: move the objects alive now out of full garbage collections.

    Importing torch, transformers and peft leaves about 414,000 objects that
    Python's cyclic collector tracks; every full (generation 2) collection
    walks all of them. Measured on the default model (2 cores): one such
    collection took 215-235 ms, and one fell inside a 4-step agent run every
    few runs, a quarter of a second added to a 0.3 s step. ``gc.freeze()``
    takes the objects alive at that moment out of every later collection;
    after it, a full collection walks what the model and the calls create
    (about 53,000 objects) in 11-15 ms. Done once per process, before the first
    model is built (peft is imported first, xgrammar, 0.7 s to import, is not),
    so models stay collectable: a dropped model's reference cycles are freed as
    usual. Garbage is collected first, so nothing collectable is frozen, and the
    objects are unfrozen at exit. ``AUGMENT_GC_FREEZE=0`` turns it off.
    Returns how many objects were frozen (0 when it had been done or is off).
    """
    if os.environ.get(GC_FREEZE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return 0
    with _FREEZE_LOCK:
        if _FROZEN:
            return 0
        try:  # adapters (the default model has one) import it next anyway: 0.13 s, about 100,000 objects
            import peft  # noqa: F401
        except ImportError:  # pragma: no cover - a core dependency
            pass
        gc.collect()
        gc.freeze()
        # given back at exit, so that shutdown collects them as usual (else nanobind, imported by triton via
        # peft, prints hundreds of "leaked instance" lines as the interpreter exits)
        atexit.register(gc.unfreeze)
        _FROZEN.append(gc.get_freeze_count())
        return _FROZEN[0]


def resolve_device(device: Any = None) -> str:
    """``None`` -> ``"cuda"`` when available, else ``"mps"``, else ``"cpu"``."""
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    dev = str(device)
    try:
        torch.device(dev)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'mps'") from e
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but CUDA is not available here; use device='cpu'")
    return dev


def resolve_dtype(dtype: Any, device: str) -> Any:
    """Pick the torch dtype.

    ``None``/``"auto"``: on CPU bfloat16 when the CPU has native bf16 (AMX /
    AVX512-BF16: about 2x faster than float32 for single prompts and batches
    on such CPUs), else float32; on CUDA bfloat16 (float16 on old GPUs); on
    MPS float16. A string (``"float32"``, ``"bf16"``...) or a torch dtype is
    used as given.
    """
    import torch

    aliases = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
    if dtype is None or dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.startswith("mps"):
            return torch.float16
        return getattr(torch, _cpu.fast_cpu_dtype())
    if isinstance(dtype, torch.dtype):
        return dtype
    name = aliases.get(str(dtype).lower(), str(dtype).lower()).replace("torch.", "")
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ConfigError(f"dtype={dtype!r} is not a floating torch dtype; use 'auto', 'float32', 'bfloat16' or 'float16'")
    return value


def plain_prompt(messages: list[Message]) -> str:
    """The fallback format for tokenizers without a chat template.

    A single user message is sent verbatim (plain completion, what a base or
    T5-style model expects). Otherwise each turn becomes ``"Role: content"``,
    turns are separated by a blank line and the text ends with
    ``"Assistant:"``::

        System: Be brief.

        User: Hi

        Assistant:
    """
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    parts = []
    for m in messages:
        content = m.content
        if m.tool_calls:
            content = (content + "\n" if content else "") + "\n".join(
                json.dumps({"name": c.name, "arguments": c.arguments}, ensure_ascii=False) for c in m.tool_calls
            )
        parts.append(f"{PLAIN_ROLE_NAMES[m.role]}: {content}")
    parts.append("Assistant:")
    return "\n\n".join(parts)


def template_supports(template: str | None, feature: str) -> bool:
    """Whether a Jinja chat template mentions ``feature`` (``"tools"``, ``"tool_calls"``)."""
    return bool(template) and feature in template


def tools_system_text(tools: list[dict[str, Any]]) -> str:
    """Describe OpenAI tool specs compactly, e.g.::

        Tools:
        - calculator: Evaluate an arithmetic expression.
          expression (string, required): the expression to evaluate
    """
    return TOOLS_SYSTEM_PROMPT.format(tools="\n".join(describe_tool(t.get("function", t)) for t in tools))


def describe_tool(spec: dict[str, Any]) -> str:
    """One tool as text: ``- name: description`` then ``  arg (type, required|optional): help`` lines."""
    params = spec.get("parameters") or {}
    required = set(params.get("required") or [])
    defs = params.get("$defs") or params.get("definitions") or {}
    lines = [f"- {spec.get('name')}: {_first_paragraph(str(spec.get('description') or ''))}".rstrip(": ")]
    for name, prop in (params.get("properties") or {}).items():
        kind = _type_text(prop, defs)
        need = "required" if name in required else "optional"
        help_ = " ".join(str(prop.get("description") or "").split())
        lines.append(f"  {name} ({kind}, {need})" + (f": {help_}" if help_ else ""))
    return "\n".join(lines)


def _first_paragraph(text: str, limit: int = 240) -> str:
    """The first paragraph of a description on one line, cut at a sentence end near ``limit`` characters."""
    para = " ".join(text.strip().split("\n\n", 1)[0].split())
    if len(para) <= limit:
        return para
    cut = para.rfind(". ", 0, limit)
    return para[: cut + 1] if cut > 0 else para[:limit].rstrip() + "..."


def _type_text(prop: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> str:
    """A short type name for a JSON-schema property: ``string``, ``integer``, ``one of 'a', 'b'``, ``list of number``."""
    if depth > 3:
        return "value"
    if "$ref" in prop and isinstance(prop["$ref"], str):
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"], ensure_ascii=False)
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        kinds = [_type_text(o, defs, depth + 1) for o in options if o.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds)) or "value"
    kind = prop.get("type")
    if isinstance(kind, list):
        return " or ".join(k for k in kind if k != "null") or "value"
    if kind == "array":
        return "list of " + _type_text(prop.get("items") or {}, defs, depth + 1)
    if kind == "object":
        keys = list((prop.get("properties") or {}))
        return "object" + (f" with {', '.join(keys)}" if keys else "")
    return str(kind or "value")


def messages_for_template(
    messages: list[Message], template: str | None, tools: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], bool]:
    """Dicts for ``apply_chat_template``; returns ``(dicts, pass_tools)``.

    When the template knows no ``tools`` the tool specs go into the system
    message (:data:`TOOLS_SYSTEM_PROMPT`); when it knows no ``tool_calls`` the
    assistant's calls are written into its content as JSON lines.
    """
    native_calls = template_supports(template, "tool_calls")
    dicts = []
    for m in messages:
        d = m.to_dict()
        if m.tool_calls and not native_calls:
            d.pop("tool_calls")
            calls = "\n".join(json.dumps({"name": c.name, "arguments": c.arguments}, ensure_ascii=False) for c in m.tool_calls)
            d["content"] = (m.content + "\n" if m.content else "") + calls
        dicts.append(d)
    pass_tools = bool(tools) and template_supports(template, "tools")
    if tools and not pass_tools:
        text = tools_system_text(tools)
        if dicts and dicts[0]["role"] == "system":
            dicts[0] = {**dicts[0], "content": dicts[0]["content"] + "\n\n" + text}
        else:
            dicts.insert(0, {"role": "system", "content": text})
    return dicts, pass_tools


def render_prompt(tokenizer: Any, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> str:
    """The exact prompt text for ``messages`` (+ ``tools``): the tokenizer's chat template with the
    generation prompt, or :func:`plain_prompt` when it has none. Shared by inference and fine-tuning,
    so an adapter is trained on the very text it will see."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        if tools:
            messages = [Message.system(tools_system_text(tools))] + list(messages)
        return plain_prompt(messages)
    dicts, pass_tools = messages_for_template(messages, template, tools)
    extra = {"tools": tools} if pass_tools else {}
    return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True, **extra)


def find_stop(text: str, stops: list[str]) -> int | None:
    """Index of the earliest stop string in ``text``, or None."""
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def stop_holdback(text: str, stops: list[str]) -> int:
    """How many trailing characters of ``text`` could still begin a stop string (held back when streaming)."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                best = max(best, k)
                break
    return best


#: name of the attention function registered by :func:`use_fast_cpu_attention`
CPU_ATTENTION = "augment_cpu_sdpa"
#: query lengths up to this run in float32 (decoding and checking a few drafted tokens)
SHORT_QUERY = 16


def _cpu_sdpa(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> Any:
    """transformers' SDPA attention on CPU: short bf16/fp16 queries in float32, and a prompt's blocks one by one.

    Short queries: measured on a 2-core EPYC with native bf16 (torch 2.13): one
    query token over 1,000 cached ones takes 570 us in PyTorch's bfloat16 CPU
    kernel and 80 us in float32, once per layer per decoded token (30 layers on
    the default model). Long queries (prefill blocks) keep the bf16 kernel, which
    is the fast one there. The choice depends only on the shapes, so a prompt
    computed with or without the prefix cache gives the same numbers.

    Blocks: inside :func:`augment.llm.kvcache.prefill_blocks` (a prompt prefilled in
    one pass, see :func:`~augment.llm.kvcache.block_prefill`) each block's queries
    attend in their own call, to the keys up to the block's end, exactly as if the
    block had been a pass of its own; the model's other operations work row by row.
    """
    from augment.llm.kvcache import PREFILL_BLOCKS

    blocks = PREFILL_BLOCKS.get()
    if blocks is not None and query.shape[0] == 1 and query.shape[-2] > 1:
        import torch

        start, ends, masks = blocks  # this call's queries are the positions start .. start + query length
        if ends and ends[-1] == start + query.shape[-2] == key.shape[-2]:
            outs, lo = [], start
            for end in ends:
                mask = masks.get(lo) if lo else None  # block at 0: causal over itself; later: all before + causal
                if lo and mask is None:  # the same for every layer: made once per pass
                    mask = masks[lo] = (torch.arange(end, device=query.device)[None, :]
                                        <= torch.arange(lo, end, device=query.device)[:, None])[None, None]
                outs.append(_sdpa_one(module, query[:, :, lo - start:end - start], key[:, :, :end], value[:, :, :end],
                                      mask, **kwargs)[0])
                lo = end
            return torch.cat(outs, dim=1), None
    return _sdpa_one(module, query, key, value, attention_mask, **kwargs)


def _sdpa_one(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> Any:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.dtype.itemsize < 4 and query.shape[-2] <= SHORT_QUERY and query.device.type == "cpu":
        out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask, **kwargs)
        return out.to(query.dtype), weights
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def use_fast_cpu_attention(model: Any) -> bool:
    """Switch a CPU model that uses ``"sdpa"`` attention to :func:`_cpu_sdpa`.

    Returns whether it did. Other models, devices and dtypes are left alone.
    """
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
    except ImportError:  # an older transformers: keep its default
        return False
    config = getattr(model, "config", None)
    dtype = getattr(model, "dtype", None)
    if (config is None or getattr(config, "_attn_implementation", None) != "sdpa" or dtype is None
            or not dtype.is_floating_point or str(getattr(model, "device", "cpu")) != "cpu"
            or not hasattr(model, "set_attn_implementation")):
        return False
    AttentionInterface.register(CPU_ATTENTION, _cpu_sdpa)
    ALL_MASK_ATTENTION_FUNCTIONS.register(CPU_ATTENTION, sdpa_mask)
    try:
        model.set_attn_implementation(CPU_ATTENTION)
    except (ValueError, KeyError, NotImplementedError):
        return False
    return getattr(model.config, "_attn_implementation", None) == CPU_ATTENTION
