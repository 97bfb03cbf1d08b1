"""Lazy attributes for packages, so that ``import augment`` never imports torch, chromadb or langchain.

>>> import augment.retrieval as r
>>> "ChromaStore" in dir(r)
True
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_attributes(module_globals: dict[str, Any], names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package whose public ``names`` map to the modules defining them.

    A name is imported on first access and then cached in the package's globals.
    """
    package = module_globals["__name__"]

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        module_globals[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(module_globals.get("__all__", ())))

    return __getattr__, __dir__
