"""Where augment keeps its files: the one function that reads ``$AUGMENT_CACHE_DIR``.

>>> from augment.paths import cache_root
>>> cache_root().is_absolute() or cache_root().parts[0] != ""
True
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["cache_root", "write_atomically"]


def cache_root() -> Path:
    """The augment cache folder: ``$AUGMENT_CACHE_DIR`` or ``~/.cache/augment``.

    Converted models live under ``models/``, the embedding cache in ``embeddings*.sqlite``,
    BM25 indexes of remote collections under ``bm25/``.
    """
    env = os.environ.get("AUGMENT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "augment"


def write_atomically(target: Path, write: Callable[[str], Any]) -> Path:
    """Create ``target`` by ``write(tmp)`` into a temporary file beside it, then a rename: a reader never
    sees a half-written file, and a failed ``write`` leaves nothing behind. Creates the folder; returns ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
