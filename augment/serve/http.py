"""HTTP plumbing of the server: bounded body reading, bearer-token auth, JSON errors and an SSE response
that gives up on a client that stops reading.

>>> _sse_bytes({"a": 1})
b'data: {"a": 1}\\n\\n'
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from augment.serve.wire import HTTPError, error_body

__all__ = ["Limits", "read_json", "check_auth", "json_response", "error_response", "SSEResponse"]


@dataclass
class Limits:
    """Request limits: body size (bytes), seconds to receive the body, seconds a stream may wait on a
    client that does not read."""

    max_body: int = 1_000_000
    read_timeout: float = 30.0
    write_timeout: float = 30.0


def json_response(data: Any, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")


def error_response(e: HTTPError) -> Any:
    return json_response(error_body(e.status, e.message, e.kind, e.param), e.status)


def check_auth(request: Any, api_key: str | None) -> None:
    """401 unless the request carries ``Authorization: Bearer <api_key>`` (no key configured: open)."""
    if not api_key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise HTTPError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY' with the key "
                             "the server was started with (augment serve --api-key, or $AUGMENT_API_KEY)",
                        "authentication_error")


async def read_json(request: Any, limits: Limits) -> Any:
    """The JSON body: 415 if it is not declared JSON, 413 over ``max_body``, 408 if it does not arrive in
    ``read_timeout`` seconds, 400 if it does not parse."""
    from starlette.requests import ClientDisconnect

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPError(415, f"the body must be JSON with the header 'Content-Type: application/json' "
                             f"(got {ctype or 'no content type'!r})")
    too_big = HTTPError(413, f"the request body is larger than the server's limit of {limits.max_body} bytes; "
                             "send less, or start the server with a larger --max-body")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPError(400, "the Content-Length header is not a number")
        if int(declared) > limits.max_body:
            raise too_big

    async def collect() -> bytes:
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limits.max_body:
                raise too_big
        return bytes(buf)

    try:
        raw = await asyncio.wait_for(collect(), limits.read_timeout)
    except asyncio.TimeoutError:
        raise HTTPError(408, f"the request body did not arrive within {limits.read_timeout:g} s; "
                             "send the whole body at once") from None
    except ClientDisconnect:
        raise HTTPError(400, "the client disconnected before sending the whole body") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HTTPError(400, f"the request body is not valid JSON: {e}") from None


def _sse_bytes(event: Any) -> bytes:
    data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


class SSEResponse:
    """A ``text/event-stream`` ASGI response over an async iterator of events (dicts or ``"[DONE]"``).

    It stops (and calls ``on_close``, which ends the generation) when the client disconnects, or when
    one event cannot be written within ``write_timeout`` seconds (a client that stopped reading).
    """

    def __init__(self, events: AsyncIterator[Any], on_close: Callable[[], None], write_timeout: float):
        self.events, self.on_close, self.write_timeout = events, on_close, write_timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})

        async def pump() -> None:
            async for event in self.events:
                await asyncio.wait_for(send({"type": "http.response.body", "body": _sse_bytes(event),
                                             "more_body": True}), self.write_timeout)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(watch())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if not t.cancelled() and t.exception() is not None and not isinstance(
                        t.exception(), (asyncio.TimeoutError, OSError)):
                    raise t.exception()  # a bug, not a client going away
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.on_close()
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                await aclose()
