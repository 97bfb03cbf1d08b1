"""Chroma plumbing for :mod:`augment.retrieval.store`: clients, names, metadata and filters.

>>> _where({"a": 1, "b": 2})
{'$and': [{'a': 1}, {'b': 2}]}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import numpy as np

from augment.errors import ConfigError, ServerUnreachableError, StoreError

__all__ = ["FILES_PREFIX", "connect", "describe_store", "default_db_path", "doc_id"]

FILES_PREFIX = "augment-files-"  # hidden companion collection: one record per ingested file
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
_EMB_KEY, _DIM_KEY = "augment:embedder", "augment:dimension"


def default_db_path() -> Path:
    """``$AUGMENT_CHROMA_DIR`` or ``./.augment/chroma`` (relative to the working directory)."""
    return Path(os.environ.get("AUGMENT_CHROMA_DIR") or Path(".augment") / "chroma")


def doc_id(text: str, source: str = "", occurrence: int = 0) -> str:
    """Stable id from content: sha256 of (source, text, occurrence), 32 hex chars."""
    h = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def _clean_metadata(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if value is None:
            continue
        if isinstance(value, (str, int, float, bool)):
            out[str(key)] = value
        else:
            out[str(key)] = json.dumps(value, ensure_ascii=False, default=str)
    return out or None


def _where(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chroma wants one key per filter dict: ``{"a": 1, "b": 2}`` becomes an ``$and``."""
    if not where:
        return None
    if len(where) > 1 and not any(k.startswith("$") for k in where):
        return {"$and": [{k: v} for k, v in where.items()]}
    return where


def connect(path: Path | None, url: str | None) -> Any:
    """A Chroma client: ``HttpClient`` for ``url`` (checked with a heartbeat), else ``PersistentClient(path)``."""
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as e:  # pragma: no cover - a core dependency
        from augment.errors import MissingDependencyError
        raise MissingDependencyError("chromadb", purpose="the vector store") from e
    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if url is None:
        path = Path(path or default_db_path()).expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception as e:
            raise StoreError(f"Cannot open the Chroma store at {path} ({type(e).__name__}: {e}). Check that "
                             "the folder is writable and holds a Chroma database.") from e
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.hostname:
        raise ConfigError(f"Bad Chroma URL {url!r}: use http://HOST:PORT")
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    try:
        client = chromadb.HttpClient(host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings)
        client.heartbeat()
        return client
    except Exception as e:
        raise ServerUnreachableError(
            f"Cannot reach the Chroma server at {url} ({type(e).__name__}: {e}). Start one with "
            f"`chroma run --path DIR --port {port}` or check the URL; or drop --chroma-url to use the "
            "embedded store on disk.") from e


def _names(client: Any) -> list[str]:
    return sorted(c if isinstance(c, str) else c.name for c in client.list_collections())


def describe_store(path: str | os.PathLike | None = None, url: str | None = None) -> list[dict[str, Any]]:
    """``[{"name", "count", "embedder", "dimension"}]`` for every collection of a store (bookkeeping hidden)."""
    client = connect(None if url else Path(path or default_db_path()), url)
    out = []
    for name in _names(client):
        if name.startswith(FILES_PREFIX):
            continue
        col = client.get_collection(name, embedding_function=None)
        meta = col.metadata or {}
        out.append({"name": name, "count": col.count(), "embedder": meta.get(_EMB_KEY), "dimension": meta.get(_DIM_KEY)})
    return out


class _ForeignEmbedder:
    """Wraps any object with ``embed_documents``/``embed_query`` (e.g. LangChain ``Embeddings``)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.model_id = getattr(inner, "model_id", None) or getattr(inner, "model_name", None) or type(inner).__name__
        self.dimension = 0  # learnt on first use

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.asarray(self.inner.embed_documents(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        self.dimension = self.dimension or vecs.shape[1]
        return vecs

    def embed_query(self, text: str) -> np.ndarray:
        vec = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        self.dimension = self.dimension or vec.shape[0]
        return vec
