"""A tiny scripted OpenAI-compatible HTTP server for tests (standard library only).

Each request pops the next scripted reply; every request is recorded with its
path, headers and JSON body. Replies:

- ``json(body, status=200, headers=None)``: a JSON body
- ``sse(chunks)``: a server-sent-event stream (dicts are JSON-encoded, strings sent as is)
- ``raw(text, status=200, content_type=...)``: any body
- ``sleep(seconds, then)``: wait, then send ``then``
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> tuple:
    return ("json", status, body, headers or {})


def sse(chunks: list[Any]) -> tuple:
    return ("sse", chunks)


def raw(text: str, status: int = 200, content_type: str = "text/plain") -> tuple:
    return ("raw", status, text, content_type)


def sleep(seconds: float, then: tuple) -> tuple:
    return ("sleep", seconds, then)


def chat_body(content: str | None = "Hello!", tool_calls: list | None = None, finish: str = "stop",
              usage: tuple[int, int] = (5, 2), model: str = "scripted") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def delta(content: str | None = None, tool_calls: list | None = None, finish: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if content is not None:
        d["content"] = content
    if tool_calls is not None:
        d["tool_calls"] = tool_calls
    return {"object": "chat.completion.chunk", "model": "scripted",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


class _Handler(BaseHTTPRequestHandler):
    server: "ScriptedServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        try:
            body = json.loads(data) if data else None
        except json.JSONDecodeError:
            body = data.decode()
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        with self.server.lock:
            reply = self.server.script.pop(0) if self.server.script else json_reply(
                {"error": {"message": "script exhausted"}}, 599)
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = _handle

    def _send(self, reply: tuple) -> None:
        kind = reply[0]
        if kind == "sleep":
            time.sleep(reply[1])
            return self._send(reply[2])
        if kind == "json":
            _, status, body, headers = reply
            self._body(status, json.dumps(body).encode(), "application/json", headers)
        elif kind == "raw":
            _, status, text, ctype = reply
            self._body(status, text.encode(), ctype, {})
        elif kind == "sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for c in reply[1]:
                payload = c if isinstance(c, str) else json.dumps(c)
                self.wfile.write(f"data: {payload}\n\n".encode())
                self.wfile.flush()

    def _body(self, status: int, data: bytes, ctype: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def enqueue(self, *replies: tuple) -> "ScriptedServer":
        self.script.extend(replies)
        return self

    def start(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
