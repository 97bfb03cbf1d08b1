"""The OpenAI chat-completions wire format: requests, replies and streamed chunks.

Pure functions shared by :class:`~augment.llm.openai.OpenAICompatibleLLM` (the
client) and ``augment serve`` (the server), so both speak exactly the same
protocol.

>>> from augment.llm.base import GenerateOptions
>>> from augment.types import Message
>>> build_payload("m", [Message.user("hi")], GenerateOptions(max_tokens=5))["messages"]
[{'role': 'user', 'content': 'hi'}]
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

from augment.errors import APIError, MalformedResponseError, ParseError
from augment.llm.base import GenerateOptions
from augment.types import Completion, Message, ToolCall, Usage

__all__ = [
    "build_payload",
    "parse_completion",
    "StreamAccumulator",
    "response_format_to_wire",
    "tool_choice_to_wire",
    "error_message",
    "retry_after",
]

MAX_RETRY_AFTER = 120.0


def response_format_to_wire(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """Our ``response_format`` (a JSON schema, or an OpenAI format dict) -> the OpenAI request field."""
    if not fmt:
        return None
    if fmt.get("type") in ("json_object", "text") and "properties" not in fmt:
        return dict(fmt)
    if fmt.get("type") == "json_schema" and "json_schema" in fmt:
        return dict(fmt)
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", str(fmt.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": fmt}}


def tool_choice_to_wire(choice: str | None, tools: list[dict[str, Any]] | None) -> Any:
    """``"auto" | "required" | "none" | tool name`` -> the OpenAI ``tool_choice`` field."""
    if choice is None or choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def build_payload(model: str, messages: list[Message], options: GenerateOptions, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for a validated conversation and options."""
    body: dict[str, Any] = {
        "model": options.adapter or model,
        "messages": [_message_to_wire(m) for m in messages],
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
    }
    if options.top_p != 1.0:
        body["top_p"] = options.top_p
    if options.stop:
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body["seed"] = options.seed
    if options.tools:
        body["tools"] = options.tools
        if options.tool_choice is not None:
            body["tool_choice"] = tool_choice_to_wire(options.tool_choice, options.tools)
    fmt = response_format_to_wire(options.response_format)
    if fmt is not None:
        body["response_format"] = fmt
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _message_to_wire(m: Message) -> dict[str, Any]:
    out = m.to_dict()
    if m.role == "assistant" and m.tool_calls and not m.content:
        out["content"] = None  # the OpenAI convention for a pure tool-call turn
    return out


def _parse_json_text(text: str) -> Any:
    """JSON from a model's text, tolerating a surrounding markdown code fence."""
    stripped = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", stripped, re.S)
    if fence:
        stripped = fence.group(1)
    return json.loads(stripped)


def _tool_call(raw: dict[str, Any], where: str) -> ToolCall:
    fn = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise MalformedResponseError(f"{where}: a tool call has no function name: {raw!r}")
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            raise MalformedResponseError(
                f"{where}: the arguments of tool call '{fn['name']}' are not valid JSON ({e}): {args[:200]!r}"
            ) from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise MalformedResponseError(f"{where}: the arguments of tool call '{fn['name']}' are not a JSON object: {args!r}")
    call = ToolCall(name=fn["name"], arguments=args)
    if raw.get("id"):
        call.id = raw["id"]
    return call


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


def _finish(text: str, tool_calls: list[ToolCall], finish_reason: str | None, usage: Usage, model: str,
            options: GenerateOptions, where: str) -> Completion:
    if tool_calls and finish_reason in (None, "stop"):
        finish_reason = "tool_calls"
    parsed = None
    if options.response_format and not tool_calls and text.strip():
        try:
            parsed = _parse_json_text(text)
        except json.JSONDecodeError as e:
            raise ParseError(
                f"{where}: response_format was requested but the model's reply is not valid JSON ({e}); "
                f"reply starts with {text[:120]!r}. Check that the server supports response_format "
                "(vLLM, llama.cpp server and Ollama do), or raise max_tokens if the reply was cut off"
            ) from None
    return Completion(text, tool_calls=tool_calls, finish_reason=finish_reason or "stop", usage=usage,
                      model=model, parsed=parsed)


def parse_completion(data: Any, options: GenerateOptions, where: str = "server") -> Completion:
    """Turn a ``chat.completion`` JSON body into a :class:`Completion` (MalformedResponseError if it is not one)."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponseError(
            f"{where} answered with a body that is not an OpenAI chat completion (no choices[0].message): "
            f"{json.dumps(data)[:300] if not isinstance(data, str) else data[:300]}; check that base_url points at "
            "the OpenAI-compatible API root (it usually ends with /v1)"
        ) from None
    text = message.get("content") or ""
    if not isinstance(text, str):
        raise MalformedResponseError(f"{where}: message.content is a {type(text).__name__}, expected a string")
    calls = [_tool_call(tc, where) for tc in message.get("tool_calls") or []]
    return _finish(text, calls, choice.get("finish_reason"), _usage(data.get("usage")), data.get("model", ""),
                   options, where)


class StreamAccumulator:
    """Feed it SSE lines of a streamed chat completion; it returns text deltas and builds the final Completion.

    >>> acc = StreamAccumulator(GenerateOptions())
    >>> acc.feed('data: {"choices": [{"delta": {"content": "Hi"}}]}')
    ['Hi']
    >>> acc.feed("data: [DONE]"), acc.done
    ([], True)
    """

    def __init__(self, options: GenerateOptions, where: str = "server"):
        self.options = options
        self.where = where
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.model = ""
        self.done = False

    def feed(self, line: str) -> list[str]:
        line = line.strip()
        if not line.startswith("data:"):
            return []  # blank separators, comments (": ping"), "event:" and "id:" fields
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise MalformedResponseError(f"{self.where} sent a stream event that is not JSON: {data[:200]!r}") from None
        if not isinstance(chunk, dict):
            raise MalformedResponseError(f"{self.where} sent a stream event that is not a JSON object: {data[:200]!r}")
        if "error" in chunk:
            raise APIError(f"{self.where} reported an error mid-stream: {error_message(chunk)}", body=data)
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        out = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                out.append(content)
            for tc in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(tc.get("index", len(self.calls)), {"id": None, "name": "", "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def completion(self) -> Completion:
        if not self.done and self.finish_reason is None:
            raise MalformedResponseError(
                f"{self.where}: the stream ended before the reply was complete (no finish_reason, no [DONE]); "
                "the server may have crashed or closed the connection, try again"
            )
        calls = [
            _tool_call({"id": s["id"], "function": {"name": s["name"], "arguments": s["arguments"]}}, self.where)
            for _, s in sorted(self.calls.items())
        ]
        return _finish("".join(self.text), calls, self.finish_reason, self.usage, self.model, self.options, self.where)


def error_message(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or json.dumps(err)
        if err:
            return str(err)
    return json.dumps(data)[:500] if not isinstance(data, str) else data[:500]


def retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return min(max(parsed.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
