"""An OpenAI-compatible HTTP server over any augment LLM (``augment serve``).

Endpoints: ``GET /v1/models``, ``GET /health`` and ``POST /v1/chat/completions``
(plain JSON or server-sent events with ``"stream": true``; ``tools``,
``tool_choice``, ``response_format``, ``stop``, ``seed``, ``n`` are passed to the
LLM's options; a ``model`` naming a loaded LoRA adapter selects it).

It is built on the standard library's ``ThreadingHTTPServer``: no extra
dependency, it starts in-process in a thread (tests, notebooks), and a local
model runs one request at a time anyway (requests wait on a lock), so an async
framework would add nothing but dependencies.

>>> from augment.llm.fake import FakeLLM
>>> server = make_server(FakeLLM(["hi"]), port=0)
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.server_close()
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from augment.errors import AugmentError, ConfigError, ContextLengthError, InvalidMessagesError, ParseError
from augment.llm.base import LLM, GenerateOptions, normalize_messages
from augment.types import Completion

__all__ = ["make_server", "AugmentServer", "request_to_options", "completion_to_wire"]

_PASSED_OPTIONS = ("temperature", "top_p", "stop", "seed", "tools")


def request_to_options(body: dict[str, Any], llm: LLM) -> dict[str, Any]:
    """The augment options for an OpenAI chat-completions request body (raises ConfigError on bad values)."""
    opts: dict[str, Any] = {k: body[k] for k in _PASSED_OPTIONS if body.get(k) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        opts["max_tokens"] = max_tokens
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
        if not choice:
            raise ConfigError("tool_choice must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}")
    if choice is not None:
        opts["tool_choice"] = choice
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") != "text":
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            if not isinstance(schema, dict):
                raise ConfigError("response_format json_schema needs a 'json_schema': {'name': ..., 'schema': {...}}")
            opts["response_format"] = schema
        elif fmt.get("type") == "json_object":
            opts["response_format"] = {"type": "json_object"}
        else:
            raise ConfigError(f"response_format type {fmt.get('type')!r} is not supported; use json_schema or json_object")
    model = body.get("model")
    if model and model in (getattr(llm, "adapters", None) or ()):
        opts["adapter"] = model
    return opts


def _message_to_wire(completion: Completion) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": completion.text if completion.text or not completion.tool_calls else None}
    if completion.tool_calls:
        msg["tool_calls"] = [tc.to_dict() for tc in completion.tool_calls]
    return msg


def _usage(completions: list[Completion]) -> dict[str, int]:
    prompt = completions[0].usage.prompt_tokens if completions else 0
    out = sum(c.usage.completion_tokens for c in completions)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


def completion_to_wire(completions: list[Completion], model: str, request_id: str | None = None) -> dict[str, Any]:
    """A ``chat.completion`` JSON body for one completion per choice."""
    return {
        "id": request_id or "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": _message_to_wire(c), "finish_reason": c.finish_reason, "logprobs": None}
            for i, c in enumerate(completions)
        ],
        "usage": _usage(completions),
    }


class _Handler(BaseHTTPRequestHandler):
    server: "AugmentServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet unless asked
        if self.server.verbose:
            super().log_message(fmt, *args)

    # ---- responses ------------------------------------------------------
    def _send_json(self, status: int, data: Any) -> None:
        raw = json.dumps(data, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "code": status}})

    def _sse(self, data: Any) -> None:
        payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        self.wfile.write(f"data: {payload}\n\n".encode())
        self.wfile.flush()

    # ---- routes ---------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            names = [self.server.model_name] + list(getattr(self.server.llm, "adapters", None) or ())
            self._send_json(200, {"object": "list", "data": [
                {"id": n, "object": "model", "created": self.server.started, "owned_by": "augment"} for n in names]})
        elif path in ("/health", ""):
            self._send_json(200, {"status": "ok", "model": self.server.model_name})
        else:
            self._send_error(404, f"no route GET {path}; try GET /v1/models or POST /v1/chat/completions", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"no route POST {path}; the chat endpoint is POST /v1/chat/completions", "not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(body, dict):
                raise ConfigError("the request body must be a JSON object with 'messages'")
            messages = normalize_messages(body.get("messages"))
            opts = GenerateOptions.build(**request_to_options(body, self.server.llm))
            n = int(body.get("n") or 1)
            if not 1 <= n <= 16:
                raise ConfigError("n must be between 1 and 16")
        except json.JSONDecodeError as e:
            self._send_error(400, f"the request body is not valid JSON: {e}")
            return
        except (AugmentError, ValueError, TypeError) as e:
            self._send_error(400, str(e))
            return
        if body.get("stream"):
            if n != 1:
                self._send_error(400, "stream=true supports n=1 only")
                return
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(messages, opts, include_usage)
            return
        try:
            with self.server.lock:
                if n == 1:
                    completions = [self.server.llm.generate(messages, opts)]
                else:
                    completions = self.server.llm.generate_batch([messages] * n, opts)
        except (InvalidMessagesError, ConfigError, ContextLengthError, ParseError) as e:
            self._send_error(400, str(e))
            return
        except Exception as e:  # a model failure: report it to the client, keep serving
            self._send_error(500, f"{type(e).__name__}: {e}", "server_error")
            return
        self._send_json(200, completion_to_wire(completions, self.server.model_name))

    def _stream(self, messages: list, opts: GenerateOptions, include_usage: bool) -> None:
        rid, created, model = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()), self.server.model_name

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        with self.server.lock:
            items: Iterator = self.server.llm.generate_stream(messages, opts)
            try:
                first = next(items)
            except StopIteration:
                self._send_error(500, "the model produced no output", "server_error")
                return
            except (InvalidMessagesError, ConfigError, ContextLengthError, ParseError) as e:
                self._send_error(400, str(e))
                return
            except Exception as e:
                self._send_error(500, f"{type(e).__name__}: {e}", "server_error")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self._sse(chunk({"role": "assistant", "content": ""}))
                final = None
                for item in _chain(first, items):
                    if isinstance(item, Completion):
                        final = item
                    elif item:
                        self._sse(chunk({"content": item}))
                if final is None:
                    raise RuntimeError("the model's stream ended without a final completion")
                if final.tool_calls:
                    self._sse(chunk({"tool_calls": [dict(tc.to_dict(), index=i) for i, tc in enumerate(final.tool_calls)]}))
                self._sse(chunk({}, final.finish_reason))
                if include_usage:
                    self._sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [], "usage": _usage([final])})
                self._sse("[DONE]")
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away
            except Exception as e:  # headers are sent: report the error as an event, as OpenAI does
                self._sse({"error": {"message": f"{type(e).__name__}: {e}", "type": "server_error"}})


def _chain(first: Any, rest: Iterator) -> Iterator:
    yield first
    yield from rest


class AugmentServer(ThreadingHTTPServer):
    """The HTTP server; ``url`` is its API root (ends with ``/v1``). Build it with :func:`make_server`.

    Example::

        server = make_server(load_llm(), port=0)
        server.start()                      # in a daemon thread
        OpenAICompatibleLLM(server.model_name, base_url=server.url).complete("hi")
        server.stop()
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, llm: LLM, host: str, port: int, model_name: str | None = None, verbose: bool = False):
        if not isinstance(llm, LLM):
            raise ConfigError(f"make_server needs an augment LLM, got {type(llm).__name__}; e.g. make_server(load_llm())")
        self.llm = llm
        self.model_name = model_name or getattr(llm, "model_name", None) or "augment"
        self.verbose = verbose
        self.lock = threading.Lock()
        self.started = int(time.time())
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "AugmentServer":
        """Serve in a background daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    def __enter__(self) -> "AugmentServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def make_server(llm: LLM, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
                verbose: bool = False) -> AugmentServer:
    """Build an OpenAI-compatible server over ``llm`` bound to ``host:port`` (port 0 picks a free port).

    Raises :class:`ConfigError` when the port is taken. Use ``server.start()`` (background thread) or
    ``server.serve_forever()`` (blocking).
    """
    try:
        return AugmentServer(llm, host, port, model_name=model_name, verbose=verbose)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port "
                          "or stop the process using it") from None
