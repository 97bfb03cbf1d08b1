"""A Chroma vector store: embedded on disk by default, or a ``chroma run`` server.

Collections use cosine space and record the embedding model that built them
(``augment:embedder``, ``augment:dimension``); opening one with another model
raises :class:`~augment.errors.EmbeddingMismatchError` instead of mixing vectors.
Scores returned by :meth:`ChromaStore.query` are cosine similarities.

>>> from augment.retrieval.embeddings import FakeEmbedder
>>> import tempfile
>>> store = ChromaStore("notes", path=tempfile.mkdtemp(), embedder=FakeEmbedder())
>>> _ = store.upsert(["Paris is the capital of France.", "Bananas are yellow."])
>>> store.query("capital of France", k=1)[0].text
'Paris is the capital of France.'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from augment.errors import ConfigError, EmbeddingMismatchError, ServerUnreachableError, StoreError
from augment.retrieval._chroma import (
    _DIM_KEY,
    _EMB_KEY,
    _NAME_RE,
    FILES_PREFIX,
    _clean_metadata,
    _ForeignEmbedder,
    _names,
    _where,
    connect,
    default_db_path,
    describe_store,
    doc_id,
)
from augment.retrieval.base import Store
from augment.types import Document, ScoredDocument

__all__ = ["ChromaStore", "connect", "describe_store", "default_db_path", "doc_id", "FILES_PREFIX"]

class ChromaStore(Store):
    """One Chroma collection holding documents and their embeddings (the :class:`~augment.retrieval.base.Store` on Chroma).

    ``path``: folder of the embedded store (default :func:`default_db_path`);
    ``url``: a Chroma server such as ``http://127.0.0.1:8000`` (start one with
    ``chroma run --path DIR --port 8000``). ``embedder``: an augment embedder or
    any object with ``embed_documents``/``embed_query``; None loads the default
    :class:`~augment.retrieval.embeddings.Embedder` when first needed.

    >>> store = ChromaStore("docs", path="/tmp/augment-demo-db")      # doctest: +SKIP
    >>> store.upsert([Document("Chroma is a vector database.", {"source": "a.txt"})])  # doctest: +SKIP
    >>> store.query("what is chroma?", k=1)[0].score                   # doctest: +SKIP
    0.71
    """

    def __init__(self, collection: str, path: str | os.PathLike | None = None, url: str | None = None,
                 embedder: Any = None, create: bool = True):
        if not isinstance(collection, str) or not _NAME_RE.match(collection) or ".." in collection:
            raise ConfigError(f"Bad collection name {collection!r}: use 3-512 characters from [a-zA-Z0-9._-], "
                              "starting and ending with a letter or digit.")
        if collection.startswith(FILES_PREFIX):
            raise ConfigError(f"Collection names starting with {FILES_PREFIX!r} are reserved by augment.")
        if path is not None and url is not None:
            raise ConfigError("Give either path= (embedded store) or url= (Chroma server), not both.")
        self.name, self.url = collection, url
        self.path = None if url else Path(path or default_db_path()).expanduser().resolve()
        self._client = connect(self.path, self.url)
        self._embedder = None if embedder is None else (
            embedder if hasattr(embedder, "dimension") and hasattr(embedder, "model_id") else _ForeignEmbedder(embedder))
        self._records_collection = None
        with self._errors():
            try:
                self._col = self._client.get_collection(collection, embedding_function=None)
            except Exception as e:
                if "does not exist" not in str(e) and type(e).__name__ != "NotFoundError":
                    raise
                if not create:
                    raise StoreError(f"Collection {collection!r} does not exist in {self.location}. Existing: "
                                     f"{self.list_collections() or 'none'}. Create it with `augment ingest PATH "
                                     f"--collection {collection}` or ChromaStore(..., create=True).") from None
                self._col = self._client.get_or_create_collection(
                    collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
                    metadata=self._model_metadata())
        if self._embedder is not None:
            self._check_model(self._embedder)

    # -- connection and errors -------------------------------------------------
    @property
    def location(self) -> str:
        return self.url or str(self.path)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (StoreError, ConfigError, ServerUnreachableError):
            raise
        except Exception as e:
            text = f"{type(e).__name__}: {e}"
            if "connect" in text.lower() and self.url:
                raise ServerUnreachableError(f"Lost the Chroma server at {self.url} ({text}). Check that "
                                             "`chroma run` is still running.") from e
            if "dimension" in text.lower():
                raise EmbeddingMismatchError(f"Collection {self.name!r} holds vectors of another size ({text}). "
                                             "It was built with another embedding model: use the same model, "
                                             "or a new collection name.") from e
            raise StoreError(f"Chroma refused the operation on collection {self.name!r}: {text}") from e

    # -- embedder bookkeeping --------------------------------------------------
    def _model_metadata(self) -> dict[str, Any]:
        emb = self._embedder
        if emb is None:
            from augment.retrieval.embeddings import DEFAULT_MODEL_ID
            return {_EMB_KEY: DEFAULT_MODEL_ID, _DIM_KEY: 384}
        meta = {_EMB_KEY: str(emb.model_id)}
        if emb.dimension:
            meta[_DIM_KEY] = int(emb.dimension)
        return meta

    def _check_model(self, emb: Any) -> None:
        meta = self._col.metadata or {}
        recorded, dim = meta.get(_EMB_KEY), meta.get(_DIM_KEY)
        if recorded is None:  # a collection made elsewhere: adopt it when empty
            if self.count() == 0:
                with self._errors():
                    self._col.modify(metadata={**meta, **self._model_metadata()})
            return
        if recorded != emb.model_id or (dim and emb.dimension and int(dim) != int(emb.dimension)):
            raise EmbeddingMismatchError(
                f"Collection {self.name!r} was built with the embedding model {recorded!r} (dimension {dim}), "
                f"but this store was given {emb.model_id!r} (dimension {emb.dimension or '?'}). Vectors of two "
                f"models are not comparable, so mixing them would corrupt search. Use the same model, or "
                f"ingest into a new collection name.")

    @property
    def embedder(self) -> Any:
        """The embedder (the default model is loaded on first use)."""
        if self._embedder is None:
            from augment.retrieval.embeddings import DEFAULT_MODEL_ID, Embedder
            recorded = (self._col.metadata or {}).get(_EMB_KEY, DEFAULT_MODEL_ID)
            emb = Embedder() if recorded == DEFAULT_MODEL_ID else None
            if emb is None:
                raise EmbeddingMismatchError(
                    f"Collection {self.name!r} was built with {recorded!r}; pass embedder=Embedder({recorded!r}) "
                    "(or its folder) to use it.")
            self._embedder = emb
            self._check_model(emb)
        return self._embedder

    @property
    def model_id(self) -> str | None:
        return (self._col.metadata or {}).get(_EMB_KEY)

    # -- writing ---------------------------------------------------------------
    def _prepare(self, documents: Sequence[Document | str], embeddings: Any = None,
                 ids: Sequence[str] | None = None) -> tuple[list[str], list[Document], np.ndarray]:
        docs = [d if isinstance(d, Document) else Document(str(d)) for d in documents]
        for d in docs:
            if not isinstance(d.text, str):
                raise ConfigError(f"Document text must be a string, got {type(d.text).__name__}")
        if ids is not None:
            if len(ids) != len(docs):
                raise ConfigError(f"Got {len(ids)} ids for {len(docs)} documents.")
            for d, i in zip(docs, ids):
                d.id = str(i)
        for d in docs:
            if not d.id:
                d.id = doc_id(d.text, str(d.metadata.get("source", "")))
        seen: set[str] = set()
        for d in docs:
            if d.id in seen:
                raise ConfigError(f"Duplicate id {d.id!r} in one call; ids must be unique.")
            seen.add(d.id)
        if embeddings is None:
            vecs = self.embedder.embed_documents([d.text for d in docs]) if docs else np.zeros((0, 1), np.float32)
        else:
            vecs = np.asarray(embeddings, dtype=np.float32).reshape(len(docs), -1)
        if self._embedder is not None and getattr(self._embedder, "dimension", 0) and len(docs):
            self._check_model(self._embedder)
        return [d.id for d in docs], docs, vecs

    def _write(self, op: str, documents: Sequence[Document | str], embeddings: Any, ids: Sequence[str] | None) -> list[str]:
        out_ids, docs, vecs = self._prepare(documents, embeddings, ids)
        step = max(1, min(5000, self._client.get_max_batch_size()))
        with self._errors():
            for i in range(0, len(docs), step):
                part = docs[i : i + step]
                metas = [_clean_metadata(d.metadata) for d in part]
                getattr(self._col, op)(ids=out_ids[i : i + step], embeddings=vecs[i : i + step],
                                       documents=[d.text for d in part],
                                       metadatas=metas if any(m is not None for m in metas) else None)
        return out_ids

    def upsert(self, documents: Sequence[Document | str], embeddings: Any = None,
               ids: Sequence[str] | None = None) -> list[str]:
        """Insert or replace documents (idempotent). Returns their ids (content hashes unless given)."""
        return self._write("upsert", documents, embeddings, ids)

    def add(self, documents: Sequence[Document | str], embeddings: Any = None,
            ids: Sequence[str] | None = None) -> list[str]:
        """Insert documents; ids that already exist raise :class:`StoreError` (use :meth:`upsert` to replace)."""
        docs = [d if isinstance(d, Document) else Document(str(d)) for d in documents]
        wanted = list(ids) if ids is not None else [d.id for d in docs if d.id]
        if wanted:
            with self._errors():
                existing = self._col.get(ids=wanted, include=[])["ids"]
            if existing:
                raise StoreError(f"{len(existing)} id(s) already exist in {self.name!r} (e.g. {existing[0]!r}); "
                                 "use upsert() to replace them.")
        return self._write("add", docs, embeddings, ids)

    def delete(self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> int:
        """Delete by ids and/or metadata filter. Returns how many records were deleted."""
        if ids is None and not where:
            raise ConfigError("delete() needs ids or where; to drop everything use delete_collection().")
        with self._errors():
            found = self._col.get(ids=list(ids) if ids is not None else None, where=_where(where), include=[])["ids"]
            step = max(1, self._client.get_max_batch_size())
            for i in range(0, len(found), step):
                self._col.delete(ids=found[i : i + step])
        return len(found)

    def delete_collection(self) -> None:
        """Drop this collection and its bookkeeping records (e.g. ingestion's) from the store."""
        with self._errors():
            self._client.delete_collection(self.name)
            with contextlib.suppress(Exception):
                self._client.delete_collection(FILES_PREFIX + self.name)

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def _docs(res: dict[str, Any]) -> list[Document]:
        metas = res.get("metadatas") or [None] * len(res["ids"])
        texts = res.get("documents") or [""] * len(res["ids"])
        return [Document(t or "", dict(m or {}), i) for i, t, m in zip(res["ids"], texts, metas)]

    def get(self, ids: Sequence[str] | str) -> list[Document]:
        """Documents with these ids, in the given order; unknown ids are skipped."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not ids:
            return []
        with self._errors():
            by_id = {d.id: d for d in self._docs(self._col.get(ids=ids, include=["documents", "metadatas"]))}
        return [by_id[i] for i in ids if i in by_id]

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored (fetches no documents)."""
        if not ids:
            return set()
        with self._errors():
            return set(self._col.get(ids=list(ids), include=[])["ids"])

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """Ids of all records (matching ``where`` when given)."""
        with self._errors():
            return list(self._col.get(where=_where(where), include=[])["ids"])

    def get_embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors for ``ids`` (in order; unknown ids raise StoreError)."""
        with self._errors():
            res = self._col.get(ids=list(ids), include=["embeddings"])
        by_id = dict(zip(res["ids"], res["embeddings"]))
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise StoreError(f"Unknown id(s) in {self.name!r}: {missing[:3]}")
        return np.asarray([by_id[i] for i in ids], dtype=np.float32).reshape(len(ids), -1)

    def query(self, query: str | Sequence[float] | np.ndarray, k: int = 4, where: dict[str, Any] | None = None,
              where_document: dict[str, Any] | None = None) -> list[ScoredDocument]:
        """Top-``k`` documents by cosine similarity (``score`` in [-1, 1], higher is better)."""
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        vec = self.embedder.embed_query(query) if isinstance(query, str) else np.asarray(query, dtype=np.float32)
        with self._errors():
            res = self._col.query(query_embeddings=[vec.reshape(-1)], n_results=k, where=_where(where),
                                  where_document=where_document, include=["documents", "metadatas", "distances"])
        flat = {key: (val[0] if isinstance(val, list) and val else val) for key, val in res.items()}
        docs = self._docs(flat)
        return [ScoredDocument(d, min(1.0, float(1.0 - dist))) for d, dist in zip(docs, flat["distances"])]

    def count(self) -> int:
        with self._errors():
            return int(self._col.count())

    def iter_documents(self, batch_size: int = 1000, where: dict[str, Any] | None = None) -> Iterator[Document]:
        """Every document of the collection, in pages of ``batch_size`` (used to build BM25)."""
        offset = 0
        while True:
            with self._errors():
                res = self._col.get(where=_where(where), limit=batch_size, offset=offset,
                                    include=["documents", "metadatas"])
            docs = self._docs(res)
            yield from docs
            if len(docs) < batch_size:
                return
            offset += batch_size

    def list_collections(self) -> list[str]:
        """Names of the collections in this store (augment's bookkeeping collections hidden)."""
        with self._errors():
            return [n for n in _names(self._client) if not n.startswith(FILES_PREFIX)]

    def describe_collections(self) -> list[dict[str, Any]]:
        """``[{"name", "count", "embedder", "dimension"}]`` for every collection of the store."""
        with self._errors():
            return describe_store(self.path, self.url)

    def stats(self) -> dict[str, Any]:
        """Name, location, record count, embedder, dimension, space and number of ingested files."""
        meta = self._col.metadata or {}
        return {"name": self.name, "location": self.location, "count": self.count(),
                "embedder": meta.get(_EMB_KEY), "dimension": meta.get(_DIM_KEY), "space": "cosine",
                "files": len(self.records("files"))}

    # -- bookkeeping records (Store interface), kept in a hidden companion collection --
    def _records_col(self, create: bool) -> Any:
        if self._records_collection is None:
            with self._errors():
                name = FILES_PREFIX + self.name
                if create:
                    self._records_collection = self._client.get_or_create_collection(
                        name, embedding_function=None, configuration={"hnsw": {"space": "l2"}})
                elif name in _names(self._client):
                    self._records_collection = self._client.get_collection(name, embedding_function=None)
        return self._records_collection

    @staticmethod
    def _record_id(kind: str, key: str) -> str:
        # "files" keeps the ids of earlier versions (hash of the source), so their records are replaced
        raw = key if kind == "files" else f"{kind}\0{key}"
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """``{key: record}`` of the bookkeeping records of ``kind`` (e.g. ingestion's ``"files"``)."""
        col = self._records_col(create=False)
        if col is None:
            return {}
        with self._errors():
            res = col.get(include=["metadatas"])
        out: dict[str, dict[str, Any]] = {}
        for m in res["metadatas"] or []:
            if not m or m.get("kind", "files") != kind:  # records of earlier versions have no kind: files
                continue
            key = m.get("key", m.get("source"))
            if key is not None:
                out[key] = {k: v for k, v in m.items() if k not in ("kind", "key")}
        return out

    def put_records(self, kind: str, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Insert or replace bookkeeping records of ``kind`` (``{key: flat dict}``)."""
        if not records:
            return
        col = self._records_col(create=True)
        ids = [self._record_id(kind, key) for key in records]
        metas = [_clean_metadata({**rec, "kind": kind, "key": key}) for key, rec in records.items()]
        with self._errors():
            col.upsert(ids=ids, embeddings=[[1.0]] * len(ids), metadatas=metas)

    def delete_records(self, kind: str, keys: Sequence[str]) -> None:
        """Delete bookkeeping records of ``kind`` (unknown keys are ignored)."""
        col = self._records_col(create=False)
        if col is None or not keys:
            return
        with self._errors():
            col.delete(ids=[self._record_id(kind, key) for key in keys])

    def __repr__(self) -> str:
        return f"ChromaStore({self.name!r}, {'url' if self.url else 'path'}={self.location!r})"
