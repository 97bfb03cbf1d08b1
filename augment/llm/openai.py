"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, ``augment serve``).

Requests go over httpx: ``POST {base_url}/chat/completions`` with streaming
(server-sent events), native tool calls, JSON response formats, retries with
exponential backoff on 429/5xx/connection errors/timeouts (``Retry-After`` is
honoured) and errors that say what to fix.

>>> from augment.llm.openai import OpenAICompatibleLLM
>>> llm = OpenAICompatibleLLM("gpt-4o-mini")            # OPENAI_API_KEY from the environment
>>> llm.base_url
'https://api.openai.com/v1'
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Iterator, Sequence

from augment.errors import (
    APIError,
    APITimeoutError,
    ConfigError,
    InvalidMessagesError,
    MalformedResponseError,
    MissingDependencyError,
    RateLimitError,
    ServerUnreachableError,
)
from augment.llm.base import LLM, GenerateOptions, MessagesLike, StreamItem, normalize_messages
from augment.llm.openai_wire import StreamAccumulator, build_payload, error_message, parse_completion, retry_after
from augment.types import Completion, Message

__all__ = ["OpenAICompatibleLLM", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _httpx():
    try:
        import httpx
    except ImportError as e:  # pragma: no cover - httpx is a core dependency
        raise MissingDependencyError("httpx", purpose="OpenAI-compatible servers") from e
    return httpx


# ---------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------
class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying; ``error`` is raised when attempts run out."""

    def __init__(self, error: Exception, delay: float | None = None):
        self.error = error
        self.delay = delay


class OpenAICompatibleLLM(LLM):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` defaults to ``$OPENAI_BASE_URL`` or the OpenAI API; ``api_key``
    to ``$OPENAI_API_KEY`` (optional: local servers need none). ``adapter=``
    in a request is sent as the model name, which is how vLLM serves LoRA adapters.

    Example::

        llm = OpenAICompatibleLLM("SmolLM2-135M-Instruct", base_url="http://127.0.0.1:8000/v1")
        print(llm.complete("Name a colour.", max_tokens=8).text)
        for piece in llm.stream("Count to 3."):
            print(piece if isinstance(piece, str) else "", end="")
    """

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0,
                 max_retries: int = 3, backoff: float = 0.5, headers: dict[str, str] | None = None,
                 max_concurrency: int = 8):
        if not model or not isinstance(model, str):
            raise ConfigError("OpenAICompatibleLLM needs a model name, e.g. OpenAICompatibleLLM('gpt-4o-mini')")
        self.model = self.model_name = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.max_concurrency = max(1, int(max_concurrency))
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        if self.api_key:
            self.headers.setdefault("Authorization", f"Bearer {self.api_key}")
        self._client = None
        self._client_lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------
    @property
    def client(self):
        with self._client_lock:  # batch() shares one pooled client across threads
            if self._client is None:
                self._client = _httpx().Client(timeout=self.timeout, headers=self.headers)
            return self._client

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _delay(self, attempt: int, hint: float | None) -> float:
        return hint if hint is not None else self.backoff * (2 ** attempt)

    def _status_error(self, status: int, body: str, headers: Any) -> Exception:
        """Classify an error status: returns a _Retry (worth retrying) or the error to raise."""
        try:
            message = error_message(json.loads(body))
        except (json.JSONDecodeError, ValueError):
            message = body.strip()[:500] or "(empty body)"
        where = f"{self.base_url} answered {status}"
        if status == 429:
            return _Retry(RateLimitError(
                f"{where} (rate limited) after {self.max_retries + 1} attempts: {message}. Wait and retry, "
                "lower the request rate, or raise max_retries", status, body), retry_after(headers))
        if status in RETRY_STATUS or status >= 500:
            return _Retry(APIError(f"{where} (server error) after {self.max_retries + 1} attempts: {message}. "
                                   "Check the server's logs", status, body), retry_after(headers))
        if status in (401, 403):
            return APIError(f"{where} (not authorized): {message}. Set a valid API key with the OPENAI_API_KEY "
                            "environment variable or OpenAICompatibleLLM(..., api_key=...)", status, body)
        if status == 404:
            return APIError(f"{where} (not found): {message}. Check the model name '{self.model}' (GET "
                            f"{self._url('models')} lists them) and that base_url ends with the API root, "
                            "usually /v1", status, body)
        return APIError(f"{where}: the server rejected the request: {message}", status, body)

    def _transport_error(self, e: Exception) -> _Retry:
        httpx = _httpx()
        if isinstance(e, httpx.TimeoutException) and not isinstance(e, httpx.ConnectTimeout):
            return _Retry(APITimeoutError(
                f"The server at {self.base_url} did not answer within {self.timeout:g} s "
                f"({self.max_retries + 1} attempts). Raise timeout=..., lower max_tokens, or check the server's load"))
        return _Retry(ServerUnreachableError(
            f"Cannot reach an OpenAI-compatible server at {self.base_url} ({type(e).__name__}: {e}). "
            "Is the server running? Start one with `augment serve --port 8000` or vLLM (`vllm serve MODEL`), "
            "or point base_url / OPENAI_BASE_URL at it"))

    def _json_body(self, text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise MalformedResponseError(
                f"{self.base_url} answered 200 with a body that is not JSON: {text[:200]!r}; check that base_url "
                "points at an OpenAI-compatible API root (usually ending with /v1)") from None

    # ---- sync ----------------------------------------------------------
    def _with_retries(self, attempt_fn):
        for attempt in range(self.max_retries + 1):
            try:
                return attempt_fn()
            except _Retry as r:
                if attempt >= self.max_retries:
                    raise r.error from None
                time.sleep(self._delay(attempt, r.delay))

    def _post(self, body: dict[str, Any]) -> Any:
        httpx = _httpx()

        def attempt():
            try:
                resp = self.client.post(self._url("chat/completions"), json=body)
            except httpx.TransportError as e:
                raise self._transport_error(e) from None
            if resp.status_code >= 400:
                err = self._status_error(resp.status_code, resp.text, resp.headers)
                raise err
            return self._json_body(resp.text)

        return self._with_retries(attempt)

    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        data = self._post(build_payload(self.model, messages, options))
        return parse_completion(data, options, where=self.base_url)

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        httpx = _httpx()
        body = build_payload(self.model, messages, options, stream=True)
        acc = StreamAccumulator(options, where=self.base_url)

        def open_stream():
            try:
                cm = self.client.stream("POST", self._url("chat/completions"), json=body)
                resp = cm.__enter__()
            except httpx.TransportError as e:
                raise self._transport_error(e) from None
            if resp.status_code >= 400:
                text = resp.read().decode("utf-8", "replace")
                cm.__exit__(None, None, None)
                raise self._status_error(resp.status_code, text, resp.headers)
            return cm, resp

        cm, resp = self._with_retries(open_stream)
        try:
            if "text/event-stream" not in resp.headers.get("content-type", "text/event-stream"):
                completion = parse_completion(self._json_body(resp.read().decode()), options, self.base_url)
                if completion.text:
                    yield completion.text
                yield completion
                return
            try:
                for line in resp.iter_lines():
                    yield from acc.feed(line)
                    if acc.done:
                        break
            except httpx.TransportError as e:
                raise self._transport_error(e).error from None
        finally:
            cm.__exit__(None, None, None)
        yield acc.completion()

    def generate_batch(self, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
        """Send the conversations as concurrent requests (at most ``max_concurrency`` at once)."""
        if len(conversations) == 1:
            return [self.generate(conversations[0], options)]
        with ThreadPoolExecutor(min(self.max_concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self.generate(c, options), conversations))

    def score_continuations(self, messages: list[Message], continuations: list[str], **options: Any) -> list[Any]:
        """First-token scores from the server's ``top_logprobs`` (see :func:`augment.llm.scoring.score_remote`)."""
        from augment.llm.scoring import score_remote

        return score_remote(self, messages, continuations, **options)

    def list_models(self) -> list[str]:
        """The model ids the server offers (``GET /models``)."""
        httpx = _httpx()

        def attempt():
            try:
                resp = self.client.get(self._url("models"))
            except httpx.TransportError as e:
                raise self._transport_error(e) from None
            if resp.status_code >= 400:
                raise self._status_error(resp.status_code, resp.text, resp.headers)
            return self._json_body(resp.text)

        data = self._with_retries(attempt)
        try:
            return [m["id"] for m in data["data"]]
        except (KeyError, TypeError):
            raise MalformedResponseError(f"{self.base_url}/models answered a body without data[].id: {data!r}"[:400]) from None

    # ---- async ---------------------------------------------------------
    async def _awith_retries(self, attempt_fn):
        for attempt in range(self.max_retries + 1):
            try:
                return await attempt_fn()
            except _Retry as r:
                if attempt >= self.max_retries:
                    raise r.error from None
                await asyncio.sleep(self._delay(attempt, r.delay))

    async def acomplete(self, messages: MessagesLike, **options: Any) -> Completion:
        """Async :meth:`complete` over ``httpx.AsyncClient`` (no worker thread)."""
        httpx = _httpx()
        msgs, opts = normalize_messages(messages), GenerateOptions.build(**options)
        body = build_payload(self.model, msgs, opts)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            async def attempt():
                try:
                    resp = await client.post(self._url("chat/completions"), json=body)
                except httpx.TransportError as e:
                    raise self._transport_error(e) from None
                if resp.status_code >= 400:
                    raise self._status_error(resp.status_code, resp.text, resp.headers)
                return self._json_body(resp.text)

            data = await self._awith_retries(attempt)
        return parse_completion(data, opts, where=self.base_url)

    async def abatch(self, conversations: Sequence[MessagesLike], **options: Any) -> list[Completion]:
        """Async :meth:`batch`: concurrent requests, at most ``max_concurrency`` in flight."""
        if isinstance(conversations, (str, Message, dict)) or not isinstance(conversations, Sequence):
            raise InvalidMessagesError("abatch() takes a list of conversations, e.g. ['q1', 'q2']")
        convs = [normalize_messages(c) for c in conversations]  # every error before the first request
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(c):
            async with sem:
                return await self.acomplete(c, **options)

        return list(await asyncio.gather(*(one(c) for c in convs)))

    async def astream(self, messages: MessagesLike, **options: Any) -> AsyncIterator[StreamItem]:
        """Async :meth:`stream` over ``httpx.AsyncClient``: text deltas, then the final Completion."""
        httpx = _httpx()
        msgs, opts = normalize_messages(messages), GenerateOptions.build(**options)
        body = build_payload(self.model, msgs, opts, stream=True)
        acc = StreamAccumulator(opts, where=self.base_url)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            async def attempt():
                try:
                    req = client.build_request("POST", self._url("chat/completions"), json=body)
                    resp = await client.send(req, stream=True)
                except httpx.TransportError as e:
                    raise self._transport_error(e) from None
                if resp.status_code >= 400:
                    text = (await resp.aread()).decode("utf-8", "replace")
                    await resp.aclose()
                    raise self._status_error(resp.status_code, text, resp.headers)
                return resp

            resp = await self._awith_retries(attempt)
            try:
                if "text/event-stream" not in resp.headers.get("content-type", "text/event-stream"):
                    completion = parse_completion(self._json_body((await resp.aread()).decode()), opts, self.base_url)
                    if completion.text:
                        yield completion.text
                    yield completion
                    return
                try:
                    async for line in resp.aiter_lines():
                        for piece in acc.feed(line):
                            yield piece
                        if acc.done:
                            break
                except httpx.TransportError as e:
                    raise self._transport_error(e).error from None
            finally:
                await resp.aclose()
        yield acc.completion()

    def render_prompt(self, messages: MessagesLike, **options: Any) -> str:
        """The exact JSON body sent to the server."""
        body = build_payload(self.model, normalize_messages(messages), GenerateOptions.build(**options))
        return json.dumps(body, indent=2, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM({self.model!r}, base_url={self.base_url!r})"
