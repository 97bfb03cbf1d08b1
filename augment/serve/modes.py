"""What a chat request runs in each serving mode, as an async stream of events.

Every mode yields the same events, which the app turns into OpenAI JSON or
SSE chunks: ``("delta", text)``, ``("step", AgentStep dict)``,
``("final", Completion, extra)`` where ``extra`` (or None) is the documented
``augment`` field, and ``("error", exception)``.

- ``chat``: the model itself, through the batching :class:`~augment.serve.engine.Engine`;
- ``rag``: :class:`~augment.rag.RAG` over a collection; ``extra`` holds the
  checked answer, the sources and the citations;
- ``agent``: :class:`~augment.agent.Agent` with tools; each step is an event
  as it happens, ``extra`` holds the steps.

RAG and agent calls go through :class:`~augment.serve.engine.EngineLLM`, so
concurrent requests share batches with plain chat.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any, AsyncIterator, Callable, Iterator

from augment.serve.engine import DONE, Engine, Job
from augment.serve.wire import ChatRequest
from augment.types import Completion, Message, Usage

__all__ = ["run_chat", "run_rag", "run_agent", "rag_extra", "Handle"]


class Handle:
    """The async side of one request: an event queue fed from other threads, and a ``gone`` flag.

    A client that falls more than ``max_pending`` events behind (it stopped reading) is marked gone, so
    its generation ends and its buffer stays bounded.
    """

    def __init__(self, max_pending: int = 10_000) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.gone = threading.Event()
        self.max_pending = max_pending
        self.posted = 0  # written by the producing thread only
        self.consumed = 0  # written by the event loop only

    def post(self, item: Any) -> None:
        self.posted += 1
        if self.posted - self.consumed > self.max_pending:
            self.gone.set()
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: the server is stopping
            self.gone.set()

    async def get(self) -> Any:
        item = await self.queue.get()
        self.consumed += 1
        return item

    async def items(self) -> AsyncIterator[Any]:
        while True:
            item = await self.get()
            if item is DONE:
                return
            yield item


def prepare_chat(engine: Engine, req: ChatRequest, handle: Handle) -> list[Job]:
    """The engine jobs of a plain chat request (n of them), tokenized now so that a prompt over the
    context window fails before any reply is sent. Submit them with :func:`run_chat`."""
    jobs = []
    for k in range(req.n):
        emit = (lambda k: (lambda item: handle.post((k, item))))(k)
        job = Job(req.messages, req.options, emit, stream=req.stream, gone=handle.gone)
        jobs.append(engine.prepare(job))
    return jobs


async def run_chat(engine: Engine, jobs: list[Job], handle: Handle) -> AsyncIterator[tuple]:
    """Events of a plain chat request; with n > 1, ``final`` carries the list of completions."""
    for job in jobs:
        engine.submit(job)
    finals: list[Any] = [None] * len(jobs)
    open_jobs = len(jobs)
    while open_jobs:
        k, item = await handle.get()
        if item is DONE:
            open_jobs -= 1
        elif isinstance(item, BaseException):
            handle.gone.set()
            yield ("error", item)
            return
        elif isinstance(item, Completion):
            finals[k] = item
        elif len(jobs) == 1:
            yield ("delta", item)
    yield ("final", finals if len(jobs) > 1 else finals[0], None)


def _in_thread(handle: Handle, produce: Callable[[], Iterator[Any]]) -> None:
    """Run a blocking generator in a thread, posting its items; it is closed when the client is gone."""

    def work() -> None:
        items = produce()
        try:
            for item in items:
                if handle.gone.is_set():
                    break
                handle.post(item)
        except BaseException as e:
            handle.post(e)
        finally:
            getattr(items, "close", lambda: None)()
            handle.post(DONE)

    threading.Thread(target=work, daemon=True, name="augment-request").start()


def rag_extra(answer: Any) -> dict[str, Any]:
    """The ``augment`` field of a RAG reply: the checked answer, every source (numbered from 1, with its
    passage) and which of them the answer cites."""
    sources = []
    for n, src in enumerate(answer.sources, start=1):
        meta = src.metadata or {}
        sources.append({"n": n, "id": src.id, "source": meta.get("source"), "title": meta.get("title"),
                        "score": round(float(src.score), 4), "text": src.text, "cited": n in answer.citations})
    return {"mode": "rag", "answer": answer.answer, "citations": sorted(answer.citations), "sources": sources,
            "unsupported": list(answer.unsupported), "removed_citations": list(answer.removed_citations),
            "abstained": bool(answer.abstained)}


async def run_rag(rag: Any, llm: Any, req: ChatRequest, handle: Handle, max_tokens: int | None) -> AsyncIterator[tuple]:
    """Events of a RAG request: the model's raw deltas, then the checked answer with its sources."""
    from augment.rag import RAGAnswer

    mine = copy.copy(rag)
    mine.llm = llm
    if max_tokens is not None:
        mine.options = dict(rag.options, max_tokens=max_tokens)
    _in_thread(handle, lambda: mine.stream(req.messages))
    async for item in handle.items():
        if isinstance(item, BaseException):
            yield ("error", item)
            return
        if isinstance(item, RAGAnswer):
            done = item.completion
            usage = done.usage if done is not None else Usage()
            final = Completion(item.answer, finish_reason=done.finish_reason if done else "stop", usage=usage)
            yield ("final", final, rag_extra(item))
        else:
            yield ("delta", item)


async def run_agent(agent: Any, llm: Any, req: ChatRequest, handle: Handle) -> AsyncIterator[tuple]:
    """Events of an agent request: each step as it happens, then the answer (the task is the last user
    message; earlier turns are not replayed)."""
    from augment.agent import AgentResult, AgentStep

    mine = copy.copy(agent)
    mine.llm, mine.history = llm, []
    task = next((m.content for m in reversed(req.messages) if isinstance(m, Message) and m.role == "user"), "")
    _in_thread(handle, lambda: mine.stream(task))
    async for item in handle.items():
        if isinstance(item, BaseException):
            yield ("error", item)
            return
        if isinstance(item, AgentStep):
            yield ("step", item.to_dict())
            if item.final:
                yield ("delta", item.text)
        elif isinstance(item, AgentResult):
            text = item.answer if item.complete else f"No answer after {len(item.steps)} steps."
            usage = Usage(sum(s.prompt_tokens for s in item.steps), sum(s.completion_tokens for s in item.steps))
            yield ("final", Completion(text or "", finish_reason="stop" if item.complete else "length", usage=usage),
                   {"mode": "agent", "complete": item.complete, "steps": [s.to_dict() for s in item.steps]})
