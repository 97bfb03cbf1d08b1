"""Shared by tools/eval_agent.py and tools/eval_rag.py: the machine, the model rows and the adapter switch."""

from __future__ import annotations

import inspect
import os
import platform
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux) and the number of cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), name)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name} ({cores} cores)"


def dtype_of(llm: Any) -> str:
    model = getattr(llm, "model", None)
    return str(getattr(model, "dtype", "n/a")).replace("torch.", "")


def adapter_of(llm: Any) -> str | None:
    """The adapter the model runs with (None: the base model)."""
    active = getattr(llm, "active_adapter", None)
    if active:
        return str(active)
    names = getattr(llm, "adapters", None)
    return ", ".join(map(str, names)) if names else None


def load_default(dtype: str | None = None, model: str | None = None, adapter: str | None = None) -> Any:
    """``load_llm()`` (or ``load_llm(model)``, e.g. ``"llamacpp"`` for the default GGUF on llama.cpp);
    ``adapter``: a LoRA folder loaded as augment's adapter instead of the shipped one (a candidate
    adapter is measured exactly as the shipped one would be)."""
    from augment.llm.defaults import DEFAULT_ADAPTER_NAME
    from augment.llm.loader import load_llm

    args = (model,) if model else ()
    kwargs: dict[str, Any] = {"dtype": dtype} if dtype else {}
    if adapter:
        kwargs["adapter"] = {DEFAULT_ADAPTER_NAME: adapter}
    return load_llm(*args, **kwargs)


def load_without_adapter(default: Any, dtype: str | None = None) -> tuple[Any | None, str]:
    """``(load_llm(adapter=None), note)``; ``(None, why)`` when that would be the same model as ``default``.

    While ``load_llm()`` runs no adapter (none shipped yet, or a ``load_llm`` whose ``adapter=``
    defaults to None), the "without adapter" row would repeat the default row: it is skipped and
    the note says so.
    """
    from augment.llm.loader import load_llm

    param = inspect.signature(load_llm).parameters.get("adapter")
    takes_off_switch = param is not None and param.default is not None
    if adapter_of(default) is None:
        why = ("load_llm() loaded no adapter (none is shipped in this install)" if takes_off_switch
               else "load_llm() loads no adapter yet (its adapter= defaults to None)")
        return None, f"skipped: {why}, so load_llm(adapter=None) is the default row"
    kwargs: dict[str, Any] = {"adapter": None}
    if dtype:
        kwargs["dtype"] = dtype
    plain = load_llm(**kwargs)
    if adapter_of(plain) is not None:
        return None, f"skipped: load_llm(adapter=None) still runs adapter {adapter_of(plain)!r}"
    return plain, f"load_llm(adapter=None) (default runs {adapter_of(default)!r})"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
