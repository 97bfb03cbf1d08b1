"""``augment serve``: an OpenAI-compatible HTTP server over any augment LLM, with a chat page.

Endpoints: ``GET /`` (a chat page: streamed answers, cited sources, agent
steps, thumbs up/down), ``GET /health``, ``GET /v1/models``,
``POST /v1/chat/completions`` (JSON or SSE with ``"stream": true``; ``tools``,
``tool_choice``, ``response_format``, ``stream_options.include_usage``),
``POST /v1/embeddings`` and ``POST /v1/feedback``.

Built on Starlette and uvicorn. Requests that arrive together are batched
(:mod:`augment.serve.engine`): a local model runs one padded ``generate`` for
them and streams each row to its own client. Modes: plain chat, RAG over a
collection (``rag=``: sources and checked citations in the ``augment`` field,
see :mod:`augment.serve.app`) and a tool-using agent (``agent=``: steps
streamed as they happen).

>>> from augment.llm.fake import FakeLLM
>>> server = make_server(FakeLLM(["hi"]), port=0)
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.server_close()
"""

from __future__ import annotations

from augment.serve.http import Limits
from augment.serve.server import AugmentServer, make_server
from augment.serve.wire import HTTPError, completion_to_wire, parse_chat_request, request_to_options

__all__ = ["make_server", "AugmentServer", "Limits", "HTTPError", "request_to_options", "completion_to_wire",
           "parse_chat_request"]
