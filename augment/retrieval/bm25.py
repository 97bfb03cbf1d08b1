"""BM25 lexical retrieval (bm25s), persisted next to the collection so it survives a restart.

The index of a store's collection lives in ``<store path>/augment-bm25/<collection>/<fingerprint>/``
(for a Chroma server: under ``$AUGMENT_CACHE_DIR/bm25/<server>/<collection>/``).
The fingerprint hashes the sorted document ids (content hashes) and the
tokenizer settings: when the collection changes, the index is rebuilt; when it
did not, a restart loads it from disk instead of re-tokenizing the corpus.

>>> from augment.retrieval.bm25 import BM25Retriever
>>> from augment.types import Document
>>> bm25 = BM25Retriever.from_documents([Document("the cat sat", id="1"), Document("dogs bark loudly", id="2")])
>>> [h.id for h in bm25.retrieve("barking dog", k=1)]
['2']
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from augment.errors import ConfigError, MissingDependencyError, StoreError
from augment.retrieval.base import Retriever, Store, check_k, check_query
from augment.types import Document, ScoredDocument

__all__ = ["BM25Retriever", "default_stemmer"]

_FORMAT = 1


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError as e:
        raise MissingDependencyError("bm25s", purpose="BM25 retrieval") from e
    return bm25s


def default_stemmer() -> tuple[str, Callable[[list[str]], list[str]] | None]:
    """English Snowball stemmer (PyStemmer, else nltk), or no stemming when neither is installed."""
    try:
        import Stemmer  # PyStemmer

        s = Stemmer.Stemmer("english")
        return "pystemmer-english", s.stemWords
    except ImportError:
        pass
    try:
        from nltk.stem.snowball import SnowballStemmer

        stem = functools.lru_cache(maxsize=200_000)(SnowballStemmer("english").stem)
        return "snowball-english", lambda words: [stem(w) for w in words]
    except ImportError:
        return "none", None


class BM25Retriever(Retriever):
    """BM25 over a store's documents (or a list of documents), with bm25s.

    ``BM25Retriever(store)`` builds the index from ``store.iter_documents()``
    and saves it next to the collection (``index_dir`` overrides where); a
    later process with the same collection loads it instead of rebuilding.
    When the store's document count changes the index is rebuilt on the next
    query (call :meth:`refresh` after an in-place edit that keeps the count).
    Documents with score 0 (no query term in common) are not returned.

    >>> bm25 = BM25Retriever(ChromaStore("docs", path=".augment/chroma"))   # doctest: +SKIP
    >>> bm25("reciprocal rank fusion", k=3)   # doctest: +SKIP
    """

    def __init__(self, store: Store | None = None, k: int = 4, index_dir: str | os.PathLike | None = None,
                 k1: float = 1.5, b: float = 0.75, method: str = "lucene", stopwords: str | None = "en",
                 stemmer: str = "auto", *, documents: Iterable[Document] | None = None):
        if (store is None) == (documents is None):
            raise ConfigError("BM25Retriever needs a store (BM25Retriever(store)) or documents "
                              "(BM25Retriever.from_documents(docs)), not both and not neither")
        if store is not None and not isinstance(store, Store):
            raise ConfigError(f"BM25Retriever needs a store (a ChromaStore, or a subclass of augment.retrieval.Store); "
                              f"got {type(store).__name__}")
        if stemmer not in ("auto", "none"):
            raise ConfigError(f"stemmer must be 'auto' (Snowball English when installed) or 'none', got {stemmer!r}")
        self.store, self.k = store, check_k(k)
        self.params = {"k1": k1, "b": b, "method": method}
        self.stopwords = stopwords
        self.stemmer_name, self._stem = default_stemmer() if stemmer == "auto" else ("none", None)
        self.index_dir = Path(index_dir) if index_dir is not None else self._default_index_dir()
        self.loaded_from_disk = False
        self._docs: list[Document] = []
        self._model: Any = None
        if documents is not None:
            self._build(list(documents))
        else:
            self.refresh()

    @classmethod
    def from_documents(cls, documents: Iterable[Document], k: int = 4, **kw: Any) -> "BM25Retriever":
        """An in-memory BM25 over ``documents`` (not persisted unless ``index_dir`` is given)."""
        return cls(None, k=k, documents=documents, **kw)

    # ---- persistence ---------------------------------------------------
    def _default_index_dir(self) -> Path | None:
        if self.store is None:
            return None
        name = self.store.name
        if self.store.path is not None:
            return Path(self.store.path) / "augment-bm25" / name
        from augment.paths import cache_root

        where = self.store.location
        return cache_root() / "bm25" / hashlib.sha256(where.encode()).hexdigest()[:12] / name

    def _fingerprint(self, ids: list[str]) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([_FORMAT, self.params, self.stopwords, self.stemmer_name]).encode())
        for i in sorted(ids):
            h.update(i.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()[:20]

    def refresh(self) -> None:
        """Load the saved index when it matches the store's documents; otherwise rebuild and save it."""
        docs = list(self.store.iter_documents())
        for i, d in enumerate(docs):
            if d.id is None:
                docs[i] = Document(d.text, dict(d.metadata), id=hashlib.sha256(d.text.encode()).hexdigest()[:32])
        fp = self._fingerprint([d.id for d in docs])  # type: ignore[misc]
        if self.index_dir is not None and self._load(self.index_dir / fp, docs):
            return
        self._build(docs)
        if self.index_dir is not None and docs:
            self._save(self.index_dir, fp)

    def _load(self, folder: Path, docs: list[Document]) -> bool:
        meta = folder / "meta.json"
        if not meta.exists():
            return False
        try:
            info = json.loads(meta.read_text())
            by_id = {d.id: d for d in docs}
            ordered = [by_id[i] for i in info["ids"]]
            model = _bm25s().BM25.load(str(folder), show_progress=False, verbosity=0)
        except Exception:  # a damaged index is rebuilt, never trusted
            return False
        self._docs, self._model, self.loaded_from_disk = ordered, model, True
        return True

    def _save(self, base: Path, fp: str) -> None:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
        try:
            self._model.save(str(tmp), show_progress=False)
            (tmp / "meta.json").write_text(json.dumps({"ids": [d.id for d in self._docs], "stemmer": self.stemmer_name,
                                                       "params": self.params, "format": _FORMAT}))
            final = base / fp
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)  # atomic: a killed process never leaves a half-written index in use
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(f"Could not save the BM25 index to {base}: {e}. Pass index_dir= a writable folder.") from e
        for old in base.iterdir():  # indexes of older versions of the collection
            if old.name != fp and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)

    # ---- index and search ----------------------------------------------
    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        return _bm25s().tokenize(texts, stopwords=self.stopwords, stemmer=self._stem, return_ids=False,
                                 show_progress=False)

    def _build(self, docs: list[Document]) -> None:
        self._docs, self.loaded_from_disk = docs, False
        if not docs:
            self._model = None
            return
        model = _bm25s().BM25(**self.params)
        model.index(self._tokenize([d.text for d in docs]), show_progress=False)
        self._model = model

    def __len__(self) -> int:
        return len(self._docs)

    def retrieve(self, query: str, k: int | None = None) -> list[ScoredDocument]:
        k = check_k(self.k if k is None else k)
        check_query(query)
        if self.store is not None and self.store.count() != len(self._docs):
            self.refresh()
        if self._model is None:
            return []
        tokens = [t for t in self._tokenize([query])[0] if t in self._model.vocab_dict]
        if not tokens:
            return []
        ids, scores = self._model.retrieve([tokens], k=min(k, len(self._docs)), show_progress=False, n_threads=0)
        return [ScoredDocument(self._docs[int(i)], float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]

    def __repr__(self) -> str:
        return f"BM25Retriever(docs={len(self._docs)}, index_dir={str(self.index_dir) if self.index_dir else None!r})"
