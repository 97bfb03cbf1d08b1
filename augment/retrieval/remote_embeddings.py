"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` server (TEI, vLLM, Ollama, OpenAI, ``augment serve``).

``Embedder("openai:MODEL", base_url=...)`` builds a :class:`RemoteEmbedder`:
texts go out in batches of ``batch_size`` over httpx, with retries and
exponential backoff on 429/5xx, timeouts and refused connections; the same
on-disk cache as local embedders keeps re-ingestion free.

>>> emb = RemoteEmbedder("all-MiniLM-L6-v2", base_url="http://127.0.0.1:8000/v1", cache=False)
>>> emb.model_id
'openai:all-MiniLM-L6-v2@http://127.0.0.1:8000/v1'
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import numpy as np

from augment.errors import APIError, APITimeoutError, ConfigError, MalformedResponseError, RateLimitError, ServerUnreachableError
from augment.paths import cache_root
from augment.retrieval.embeddings import BaseEmbedder, EmbeddingCache

__all__ = ["RemoteEmbedder"]


class RemoteEmbedder(BaseEmbedder):
    """An embedding model behind an OpenAI-compatible HTTP API.

    ``model``: the server's model name; ``base_url``: the API root (ends with ``/v1``; default
    ``$OPENAI_BASE_URL``); ``api_key``: sent as a bearer token (default ``$OPENAI_API_KEY``);
    ``batch_size``: texts per request; ``max_retries``/``backoff``: retries on 429/5xx/network
    errors (``backoff * 2**attempt`` seconds, or the server's ``Retry-After``); ``dimension``: the
    vector size if known (else asked of the server with one short text).

    Example::

        emb = Embedder("openai:all-MiniLM-L6-v2", base_url="http://127.0.0.1:8000/v1")  # augment serve
        store = ChromaStore("docs", embedder=emb)
        ingest(["docs/"], store)              # embedding runs on the server, in batches
    """

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, batch_size: int = 64,
                 timeout: float = 60.0, max_retries: int = 3, backoff: float = 0.5, dimension: int | None = None,
                 normalize: bool = True, cache: bool = True, cache_dir: str | os.PathLike | None = None):
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("RemoteEmbedder needs the server's model name, e.g. Embedder('openai:all-MiniLM-L6-v2', base_url=...)")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError("a remote embedder needs base_url= (the API root, e.g. http://127.0.0.1:8000/v1) "
                              "or $OPENAI_BASE_URL")
        if batch_size < 1 or max_retries < 0 or timeout <= 0:
            raise ConfigError(f"batch_size >= 1, max_retries >= 0 and timeout > 0 please (got {batch_size}, "
                              f"{max_retries}, {timeout})")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.batch_size, self.timeout, self.max_retries, self.backoff = batch_size, timeout, max_retries, backoff
        self.normalize = normalize
        self.model_id = f"openai:{model}@{self.base_url}"
        self.cache_key = f"{self.model_id}|{'n' if normalize else 'r'}"
        self.cache = EmbeddingCache(cache_dir or cache_root()) if cache else None
        self._dimension = dimension
        self._client: Any = None
        self.requests = 0  # HTTP requests that succeeded, a running count

    @property
    def dimension(self) -> int:  # type: ignore[override]
        if self._dimension is None:
            self._dimension = int(self._request(["dimension probe"]).shape[1])
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def _embed(self, texts: list[str]) -> np.ndarray:
        parts = [self._request(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dimension), dtype=np.float32)
        if self._dimension is None and len(out):
            self._dimension = out.shape[1]
        return out

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def _request(self, texts: list[str]) -> np.ndarray:
        import httpx

        url = self.base_url + "/embeddings"
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            delay = self.backoff * 2 ** attempt
            try:
                r = self._http().post(url, json=body)
            except httpx.TimeoutException as e:
                last = APITimeoutError(f"the embedding server at {url} did not answer within {self.timeout} s "
                                       f"({self.max_retries + 1} attempts); raise timeout= or lower batch_size=")
                last.__cause__ = e
            except httpx.TransportError as e:
                last = ServerUnreachableError(f"cannot reach the embedding server at {url} ({e}); check base_url "
                                              "and that the server runs")
            else:
                if r.status_code == 200:
                    self.requests += 1
                    return self._vectors(r, len(texts), url)
                message = r.text[:300]
                if r.status_code == 429 or r.status_code >= 500:
                    cls = RateLimitError if r.status_code == 429 else APIError
                    last = cls(f"the embedding server at {url} answered {r.status_code} after "
                               f"{self.max_retries + 1} attempts: {message}", r.status_code, r.text)
                    hint = r.headers.get("retry-after")
                    delay = float(hint) if hint and hint.replace(".", "", 1).isdigit() else delay
                else:
                    raise APIError(f"the embedding server at {url} refused the request ({r.status_code}): {message}; "
                                   f"check the model name {self.model!r} and the API key", r.status_code, r.text)
            if attempt < self.max_retries:
                time.sleep(min(delay, 30.0))
        raise last  # type: ignore[misc]  # set by every failed attempt

    def _vectors(self, r: Any, n: int, url: str) -> np.ndarray:
        try:
            data = sorted(r.json()["data"], key=lambda d: d.get("index", 0))
            rows = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") if isinstance(d["embedding"], str)
                    else np.asarray(d["embedding"], dtype=np.float32) for d in data]
        except (ValueError, KeyError, TypeError) as e:
            raise MalformedResponseError(f"{url} did not answer with OpenAI embeddings ({e}); is base_url the "
                                         "API root (ending with /v1)?") from None
        if len(rows) != n or len({len(v) for v in rows}) != 1:
            raise MalformedResponseError(f"{url} returned {len(rows)} vectors of sizes {sorted({len(v) for v in rows})} "
                                         f"for {n} texts")
        return np.stack(rows).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def __repr__(self) -> str:
        return f"RemoteEmbedder({self.model!r}, base_url={self.base_url!r})"
