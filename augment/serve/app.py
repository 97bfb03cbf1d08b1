"""The Starlette application of ``augment serve``: routes, auth, errors, JSON and SSE replies.

Routes: ``GET /`` (the chat page), ``GET /static/*``, ``GET /health``,
``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/embeddings``,
``POST /v1/feedback`` (thumbs up/down from the page, appended to the
feedback log). Every error is an OpenAI-style JSON body with a 4xx/5xx status.

The ``augment`` field: in RAG mode a reply (the JSON body, or the last
streamed chunk before ``[DONE]``) carries ``augment = {"mode": "rag",
"answer", "citations", "sources": [{"n", "id", "source", "title", "score",
"text", "cited"}], "unsupported", "removed_citations", "abstained"}``; in
agent mode, streamed chunks with ``augment = {"step": {...}}`` come as each
step ends and the last one has ``augment = {"mode": "agent", "complete",
"steps"}``. OpenAI clients ignore the field (the ``openai`` package keeps it
in ``model_extra``).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.resources
import threading
from dataclasses import dataclass, field
from typing import Any

from augment.errors import AugmentError, ContextLengthError, DataError
from augment.llm.base import LLM
from augment.serve.engine import Engine, EngineLLM
from augment.serve.http import Limits, SSEResponse, check_auth, error_response, json_response, read_json
from augment.serve.modes import Handle, prepare_chat, run_agent, run_chat, run_rag
from augment.serve.wire import ChunkMaker, HTTPError, completion_to_wire, parse_chat_request, usage_to_wire

__all__ = ["ServerState", "build_app"]

_STATIC = {"chat.js": "text/javascript", "chat.css": "text/css", "index.html": "text/html"}


@dataclass
class ServerState:
    """Everything the routes need: the model, its engine, the mode and the limits."""

    llm: LLM
    engine: Engine
    model_name: str
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    rag: Any = None
    agent: Any = None
    embedder: Any = None
    feedback_path: str | None = None
    started: int = 0
    _embed_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.proxy = EngineLLM(self.engine)

    @property
    def mode(self) -> str:
        return "rag" if self.rag is not None else "agent" if self.agent is not None else "chat"

    @property
    def adapters(self) -> tuple[str, ...]:
        return tuple(getattr(self.llm, "adapters", None) or ())

    @property
    def models(self) -> list[str]:
        return [self.model_name, *self.adapters]

    def get_embedder(self) -> Any:
        if self.embedder is None:
            store_embedder = getattr(getattr(self.rag, "retriever", None), "embedder", None)
            if store_embedder is not None:
                self.embedder = store_embedder
            else:
                from augment.retrieval.embeddings import Embedder

                self.embedder = Embedder()
        return self.embedder


def _status_of(e: BaseException) -> HTTPError:
    if isinstance(e, HTTPError):
        return e
    if isinstance(e, ContextLengthError):
        return HTTPError(400, str(e), param="messages")
    if isinstance(e, AugmentError) and isinstance(e, ValueError):  # InvalidMessages, Config, Parse...
        return HTTPError(400, str(e))
    return HTTPError(500, f"{type(e).__name__}: {e}", "server_error")


def _endpoint(fn: Any) -> Any:
    async def wrapped(request: Any) -> Any:
        try:
            return await fn(request)
        except Exception as e:  # every failure is a JSON error; the server keeps serving
            return error_response(_status_of(e))

    return wrapped


def _delta_events(maker: ChunkMaker, events: Any, first: tuple, include_usage: bool) -> Any:
    async def gen() -> Any:
        yield maker.chunk({"role": "assistant", "content": ""})
        event: tuple | None = first
        while event is not None:
            kind = event[0]
            if kind == "delta" and event[1]:
                yield maker.chunk({"content": event[1]})
            elif kind == "step":
                yield maker.chunk(None, augment={"step": event[1]})
            elif kind == "error":
                err = _status_of(event[1])
                yield {"error": {"message": err.message, "type": err.kind, "code": err.status}}
                return
            elif kind == "final":
                completion, extra = event[1], event[2]
                for chunk in maker.tool_call_chunks(completion):
                    yield chunk
                yield maker.chunk({}, completion.finish_reason, **({"augment": extra} if extra else {}))
                if include_usage:
                    yield maker.chunk(None, usage=usage_to_wire([completion]))
                yield "[DONE]"
                return
            event = await events.__anext__()

    return gen()


def build_app(state: ServerState) -> Any:
    """The Starlette app serving ``state``."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route

    async def page(request: Any) -> Any:
        name = request.path_params.get("name", "index.html")
        if name not in _STATIC:
            raise HTTPError(404, f"no static file {name!r}", "not_found")
        body = importlib.resources.files("augment.serve").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"cache-control": "no-cache"})

    async def health(request: Any) -> Any:
        return json_response({"status": "ok", "model": state.model_name, "mode": state.mode,
                              "auth": bool(state.api_key), "feedback": bool(state.feedback_path),
                              "batches": state.engine.batches, "rows": state.engine.rows})

    async def models(request: Any) -> Any:
        check_auth(request, state.api_key)
        return json_response({"object": "list", "data": [
            {"id": n, "object": "model", "created": state.started, "owned_by": "augment"} for n in state.models]})

    async def chat(request: Any) -> Any:
        check_auth(request, state.api_key)
        body = await read_json(request, state.limits)
        req = parse_chat_request(body, state.models, state.adapters)
        handle = Handle()
        if state.mode == "rag":
            given = body.get("max_completion_tokens", body.get("max_tokens"))
            events = run_rag(state.rag, state.proxy, req, handle, req.options.max_tokens if given else None)
        elif state.mode == "agent":
            events = run_agent(state.agent, state.proxy, req, handle)
        else:
            events = run_chat(state.engine, prepare_chat(state.engine, req, handle), handle)
        try:
            first = await events.__anext__()  # errors before the first event are plain JSON errors
        except BaseException:
            handle.gone.set()
            raise
        if first[0] == "error":
            handle.gone.set()
            return error_response(_status_of(first[1]))
        if req.stream:
            maker = ChunkMaker(req.model)
            return SSEResponse(_delta_events(maker, events, first, req.include_usage), handle.gone.set,
                               state.limits.write_timeout)
        event = first
        while event[0] != "final":
            event = await events.__anext__()
            if event[0] == "error":
                return error_response(_status_of(event[1]))
        completions = event[1] if isinstance(event[1], list) else [event[1]]
        return json_response(completion_to_wire(completions, req.model, extra=event[2]))

    async def embeddings(request: Any) -> Any:
        check_auth(request, state.api_key)
        body = await read_json(request, state.limits)
        if not isinstance(body, dict):
            raise HTTPError(400, "the request body must be a JSON object with 'model' and 'input'")
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise HTTPError(400, "'input' must be a non-empty string or a non-empty list of non-empty strings "
                                 "(token arrays are not supported)", param="input")
        if len(texts) > 2048:
            raise HTTPError(400, f"'input' has {len(texts)} texts; send at most 2048 per request", param="input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise HTTPError(400, "encoding_format must be 'float' or 'base64'", param="encoding_format")
        embedder = await asyncio.to_thread(state.get_embedder)
        names = [embedder.model_id, embedder.model_id.rsplit("/", 1)[-1]]
        model = body.get("model") or names[0]
        if model not in names:
            raise HTTPError(404, f"embedding model {model!r} is not served here; use {names[0]!r}",
                            "model_not_found", "model")

        def embed() -> Any:
            with state._embed_lock:
                return embedder.embed_documents(texts)

        vectors = await asyncio.to_thread(embed)
        data = []
        for i, v in enumerate(vectors):
            value: Any = base64.b64encode(v.astype("<f4").tobytes()).decode() if fmt == "base64" else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(embedder.count_tokens(t) for t in texts)
        return json_response({"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def feedback(request: Any) -> Any:
        check_auth(request, state.api_key)
        body = await read_json(request, state.limits)
        if not state.feedback_path:
            raise HTTPError(404, "feedback is off on this server; start it with --feedback PATH", "not_found")
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be {'prompt', 'response', 'rating': 1 or -1, 'meta': {...}}")
        from augment.feedback import FeedbackLog

        meta = body.get("meta") or {}
        if not isinstance(meta, dict):
            raise HTTPError(400, "'meta' must be an object", param="meta")
        try:
            FeedbackLog(state.feedback_path).record(body.get("prompt"), body.get("response"), body.get("rating"),
                                                    body.get("preferred"), model=state.model_name,
                                                    mode=state.mode, **meta)
        except (DataError, TypeError) as e:
            raise HTTPError(400, str(e)) from None
        return json_response({"status": "recorded"})

    async def not_found(request: Any, exc: Any) -> Any:
        status = getattr(exc, "status_code", 404)
        hint = "try GET / (the chat page), GET /v1/models, POST /v1/chat/completions or POST /v1/embeddings"
        return error_response(HTTPError(status, f"no route {request.method} {request.url.path}; {hint}",
                                        "not_found" if status == 404 else "invalid_request_error"))

    routes = [
        Route("/", _endpoint(page), methods=["GET"]),
        Route("/static/{name}", _endpoint(page), methods=["GET"]),
        Route("/health", _endpoint(health), methods=["GET"]),
    ]
    for prefix in ("/v1", ""):
        routes += [
            Route(prefix + "/models", _endpoint(models), methods=["GET"]),
            Route(prefix + "/chat/completions", _endpoint(chat), methods=["POST"]),
            Route(prefix + "/embeddings", _endpoint(embeddings), methods=["POST"]),
            Route(prefix + "/feedback", _endpoint(feedback), methods=["POST"]),
        ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found})
