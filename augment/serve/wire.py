"""The server side of the OpenAI wire format: validate a request body, build replies and stream chunks.

Every malformed field becomes an :class:`HTTPError` with a 4xx status and a
message naming the field and the fix; nothing here raises a bare ``KeyError``
or ``AttributeError`` on user input.

>>> from augment.llm.fake import FakeLLM
>>> req = parse_chat_request({"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
...                          models=["fake"])
>>> req.options.max_tokens, req.stream
(5, False)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from augment.errors import AugmentError
from augment.llm.base import GenerateOptions, normalize_messages
from augment.types import Completion, Message

__all__ = ["HTTPError", "ChatRequest", "parse_chat_request", "request_to_options", "completion_to_wire",
           "usage_to_wire", "ChunkMaker", "error_body"]

_PASSED_OPTIONS = ("temperature", "top_p", "stop", "seed", "tools")
_TOOL_CHOICE_HINT = "tool_choice must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}"


class HTTPError(Exception):
    """A request the server refuses: ``status`` (4xx/5xx), a message saying what to fix, an OpenAI error type."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def error_body(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict:
    """The OpenAI error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def _bad(message: str, param: str | None = None) -> HTTPError:
    return HTTPError(400, message, param=param)


def _tool_choice(choice: Any) -> str | None:
    if choice is None or isinstance(choice, str):
        if isinstance(choice, str) and not choice:
            raise _bad(_TOOL_CHOICE_HINT, "tool_choice")
        return choice
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name:
            return name
    raise _bad(f"{_TOOL_CHOICE_HINT}; got {json.dumps(choice)[:100]}", "tool_choice")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise _bad("response_format must be an object such as {'type': 'json_object'}", "response_format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _bad("response_format json_schema needs a 'json_schema': {'name': ..., 'schema': {...}}",
                       "response_format")
        return schema
    raise _bad(f"response_format type {kind!r} is not supported; use json_schema, json_object or text",
               "response_format")


def _content(value: Any, i: int) -> Any:
    """OpenAI content parts (``[{"type": "text", "text": ...}]``) joined to a string; other values pass through."""
    if isinstance(value, list):
        texts = []
        for part in value:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise _bad(f"messages[{i}].content: only text parts ({{'type': 'text', 'text': ...}}) are supported",
                           f"messages[{i}].content")
            texts.append(part["text"])
        return "".join(texts)
    return value


def _tool_calls(calls: Any, i: int) -> list[dict[str, Any]]:
    where = f"messages[{i}].tool_calls"
    if not isinstance(calls, list):
        raise _bad(f"{where} must be a list of {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}}", where)
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"{where}[{j}] needs a 'function' object with a 'name' (and JSON 'arguments'); "
                       f"got {json.dumps(call)[:100]}", where)
        args = fn.get("arguments")
        if isinstance(args, str) and args.strip():
            try:
                args = json.loads(args)
            except json.JSONDecodeError as e:
                raise _bad(f"{where}[{j}].function.arguments is not valid JSON ({e})", where) from None
        if args not in (None, "") and not isinstance(args, dict):
            raise _bad(f"{where}[{j}].function.arguments must be a JSON object", where)
    return calls


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list):
        raise _bad("'messages' must be a list of {'role': ..., 'content': ...} objects", "messages")
    cleaned = []
    for i, m in enumerate(raw):
        if isinstance(m, dict):
            m = dict(m)
            if "content" in m:
                m["content"] = _content(m["content"], i)
            if m.get("tool_calls") is not None:
                _tool_calls(m["tool_calls"], i)
        cleaned.append(m)
    try:
        return normalize_messages(cleaned)
    except AugmentError as e:
        raise _bad(str(e), "messages") from None


def request_to_options(body: dict[str, Any]) -> dict[str, Any]:
    """The augment generation options of an OpenAI chat-completions body (HTTPError 400 on bad values)."""
    opts: dict[str, Any] = {k: body[k] for k in _PASSED_OPTIONS if body.get(k) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        opts["max_tokens"] = max_tokens
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        opts["tool_choice"] = choice
    fmt = _response_format(body.get("response_format"))
    if fmt is not None:
        opts["response_format"] = fmt
    return opts


@dataclass
class ChatRequest:
    """A validated chat-completions request."""

    model: str
    messages: list[Message]
    options: GenerateOptions
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def parse_chat_request(body: Any, models: list[str], adapters: tuple[str, ...] = ()) -> ChatRequest:
    """Validate a chat-completions body; ``models`` are the served ids (first = default).

    An unknown ``model`` is a 404 that lists the served ones; a model naming
    one of ``adapters`` selects that LoRA adapter.
    """
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object with 'model' and 'messages'")
    model = body.get("model") or models[0]
    if not isinstance(model, str) or model not in models:
        raise HTTPError(404, f"model {model!r} is not served here; the models are: {', '.join(models)} "
                             "(GET /v1/models lists them)", "model_not_found", "model")
    messages = _messages(body.get("messages"))
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _bad("stream_options must be an object such as {'include_usage': true}", "stream_options")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 16:
        raise _bad(f"n must be an integer between 1 and 16, got {n!r}", "n")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _bad("stream must be true or false", "stream")
    if stream and n != 1:
        raise _bad("stream=true supports n=1 only", "n")
    opts = request_to_options(body)
    if model in adapters:
        opts["adapter"] = model
    try:
        options = GenerateOptions.build(**opts)
    except AugmentError as e:
        raise _bad(str(e)) from None
    return ChatRequest(model, messages, options, stream, bool((stream_options or {}).get("include_usage")), n)


def usage_to_wire(completions: list[Completion]) -> dict[str, int]:
    prompt = completions[0].usage.prompt_tokens if completions else 0
    out = sum(c.usage.completion_tokens for c in completions)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


def _message(completion: Completion) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant",
                           "content": completion.text if completion.text or not completion.tool_calls else None}
    if completion.tool_calls:
        msg["tool_calls"] = [tc.to_dict() for tc in completion.tool_calls]
    return msg


def completion_to_wire(completions: list[Completion], model: str, request_id: str | None = None,
                       extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``chat.completion`` JSON body, one choice per completion; ``extra`` goes in the ``augment`` field."""
    body = {
        "id": request_id or "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": i, "message": _message(c), "finish_reason": c.finish_reason, "logprobs": None}
                    for i, c in enumerate(completions)],
        "usage": usage_to_wire(completions),
    }
    if extra:
        body["augment"] = extra
    return body


class ChunkMaker:
    """Builds the ``chat.completion.chunk`` events of one streamed reply."""

    def __init__(self, model: str):
        self.id, self.created, self.model = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()), model

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def tool_call_chunks(self, completion: Completion) -> list[dict[str, Any]]:
        """Tool calls as OpenAI streams them: a first delta with id and name, then the arguments."""
        out = []
        for i, tc in enumerate(completion.tool_calls):
            wire = tc.to_dict()
            out.append(self.chunk({"tool_calls": [{"index": i, "id": wire["id"], "type": "function",
                                                   "function": {"name": wire["function"]["name"], "arguments": ""}}]}))
            out.append(self.chunk({"tool_calls": [{"index": i, "function": {"arguments": wire["function"]["arguments"]}}]}))
        return out
