"""Where augment keeps its files: the one function that reads ``$AUGMENT_CACHE_DIR``.

>>> from augment.paths import cache_root
>>> cache_root().is_absolute() or cache_root().parts[0] != ""
True
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The augment cache folder: ``$AUGMENT_CACHE_DIR`` or ``~/.cache/augment``.

    Converted models live under ``models/``, the embedding cache in ``embeddings*.sqlite``,
    BM25 indexes of remote collections under ``bm25/``.
    """
    env = os.environ.get("AUGMENT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "augment"
