"""The server object: uvicorn serving the app on a socket bound up front (so port 0 works and a busy
port is a clear error), in the foreground (``serve_forever``) or in a background thread (``start``)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from augment.errors import ConfigError
from augment.llm.base import LLM
from augment.serve.engine import WINDOW, Engine
from augment.serve.http import Limits

__all__ = ["AugmentServer", "make_server"]


class AugmentServer:
    """An OpenAI-compatible server over an augment LLM; ``url`` is its API root (ends with ``/v1``).

    Build it with :func:`make_server`. Example::

        from augment import load_llm
        from augment.llm.openai import OpenAICompatibleLLM
        from augment.serve import make_server

        with make_server(load_llm(), port=0) as server:     # serves in a background thread
            remote = OpenAICompatibleLLM(server.model_name, base_url=server.url)
            print(remote.complete("Hi", max_tokens=8).text)
    """

    def __init__(self, state: Any, sock: socket.socket, verbose: bool = False):
        self.state, self.socket, self.verbose = state, sock, verbose
        self.server_address = sock.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._uvicorn: Any = None

    @property
    def llm(self) -> LLM:
        return self.state.llm

    @property
    def model_name(self) -> str:
        return self.state.model_name

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def base(self) -> str:
        """``http://host:port`` (the chat page is at ``base + "/"``)."""
        host, port = self.server_address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def url(self) -> str:
        return self.base + "/v1"

    def _make_uvicorn(self) -> Any:
        import uvicorn

        from augment.serve.app import build_app

        config = uvicorn.Config(build_app(self.state), lifespan="off", log_level="info" if self.verbose else "warning",
                                access_log=self.verbose, timeout_keep_alive=5, timeout_graceful_shutdown=2)
        return uvicorn.Server(config)

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl+C (or :meth:`stop` from another thread)."""
        self.engine.start()
        self._uvicorn = self._make_uvicorn()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self.engine.stop()

    def start(self) -> "AugmentServer":
        """Serve in a background daemon thread; returns once the server accepts connections."""
        self.engine.start()
        self._uvicorn = self._make_uvicorn()
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self.socket]},
                                        daemon=True, name="augment-serve")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._uvicorn.started:
            raise ConfigError(f"the server on {self.base} did not start; run it with verbose=True to see why")
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and stop the engine."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.engine.stop()
        self.server_close()

    def server_close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "AugmentServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port "
                          "or stop the process using it") from None
    return sock


def make_server(llm: LLM, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
                verbose: bool = False, *, rag: Any = None, agent: Any = None, embedder: Any = None,
                api_key: str | None = None, feedback: str | None = None, limits: Limits | None = None,
                batch_window: float = WINDOW, max_batch: int = 16, batching: bool = True) -> AugmentServer:
    """Build an OpenAI-compatible server over ``llm`` bound to ``host:port`` (port 0 picks a free one).

    ``rag``: a :class:`~augment.rag.RAG` (RAG mode) or ``agent``: an :class:`~augment.agent.Agent`
    (agent mode); their model calls go through the server's batching engine. ``embedder``: served at
    ``/v1/embeddings`` (default: the RAG store's, else the default embedder, loaded on first use).
    ``api_key``: required as ``Authorization: Bearer KEY``. ``feedback``: the jsonl file the page's
    thumbs are recorded to. ``limits``: body size and read/write timeouts. ``batch_window`` seconds
    and ``max_batch`` rows bound a batch; ``batching=False`` runs one request at a time.
    Raises :class:`ConfigError` when the port is taken.
    """
    from augment.serve.app import ServerState

    if not isinstance(llm, LLM):
        raise ConfigError(f"make_server needs an augment LLM, got {type(llm).__name__}; e.g. make_server(load_llm())")
    if rag is not None and agent is not None:
        raise ConfigError("serve either a RAG collection (rag=) or an agent (agent=), not both")
    engine = Engine(llm, window=batch_window, max_batch=max_batch, batching=batching)
    state = ServerState(llm, engine, model_name or getattr(llm, "model_name", None) or "augment",
                        limits=limits or Limits(), api_key=api_key or None, rag=rag, agent=agent, embedder=embedder,
                        feedback_path=str(feedback) if feedback else None, started=int(time.time()))
    return AugmentServer(state, _bind(host, port), verbose=verbose)
