"""What the CPU can do fast: one place for the dtype choice of the LLM and the embedder.

Imports nothing of augment (usable from every layer); torch is imported inside the functions.

>>> from augment._cpu import cpu_model
>>> isinstance(cpu_model(), str)
True
"""

from __future__ import annotations

import functools
import os
import platform

__all__ = ["CPU_DTYPE_ENV", "cpu_has_fast_bf16", "cpu_has_amx", "cpu_model", "fast_cpu_dtype"]

CPU_DTYPE_ENV = "AUGMENT_CPU_DTYPE"
"""Set to ``float32`` or ``bfloat16`` to override the CPU dtype that ``dtype="auto"`` picks
(the LLM, the embedder and ``mixed_precision="auto"`` in fine-tuning). Useful for outputs that
must match across machines: greedy text differs between bf16 and float32. The test suite sets it
to ``float32``."""


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AMX or AVX512-BF16).

    Without it torch emulates bf16 and runs it several times slower than
    float32 (measured on an AMD EPYC without bf16: 6.4 vs 39.2 passages/s
    with all-MiniLM-L6-v2).
    """
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # pragma: no cover - older torch
        return False


def fast_cpu_dtype() -> str:
    """``"bfloat16"`` on a CPU with native bf16, else ``"float32"``; ``$AUGMENT_CPU_DTYPE`` overrides.

    >>> import os
    >>> saved = os.environ.get("AUGMENT_CPU_DTYPE")
    >>> os.environ["AUGMENT_CPU_DTYPE"] = "bf16"
    >>> fast_cpu_dtype()
    'bfloat16'
    >>> os.environ["AUGMENT_CPU_DTYPE"] = "int4"
    >>> fast_cpu_dtype()
    Traceback (most recent call last):
    ...
    ValueError: AUGMENT_CPU_DTYPE='int4' is not a CPU dtype; set it to 'float32' or 'bfloat16', or unset it to pick by the CPU
    >>> os.environ.update({} if saved is None else {"AUGMENT_CPU_DTYPE": saved})
    >>> if saved is None: del os.environ["AUGMENT_CPU_DTYPE"]
    """
    forced = os.environ.get(CPU_DTYPE_ENV, "").strip().lower()
    if forced:
        name = {"fp32": "float32", "float": "float32", "bf16": "bfloat16"}.get(forced, forced)
        if name not in ("float32", "bfloat16"):
            raise ValueError(f"{CPU_DTYPE_ENV}={forced!r} is not a CPU dtype; set it to 'float32' or 'bfloat16', "
                             "or unset it to pick by the CPU")
        return name
    return "bfloat16" if cpu_has_fast_bf16() else "float32"


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), for benchmark reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """True when the CPU has AMX tiles (read from /proc/cpuinfo, no torch import).

    llama-cpp-python 0.3.x segfaults on such CPUs unless its weights are loaded
    without the extra (AMX repacking) buffer types.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False
