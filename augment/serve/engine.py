"""The server's generation engine: requests that arrive together run as one batch.

One engine thread owns the model. Requests (:class:`Job`) queue up; the
engine takes the first, waits ``window`` seconds (30 ms by default) for
more, groups what it has by generation options and runs each group at once:

- a local :class:`~augment.llm.transformers.TransformersLLM` without tools or
  ``response_format``: one left-padded ``generate`` call for the whole group;
  each row's tokens are decoded and handed to its own client as they come
  (:class:`_Rows`); each row keeps its own ``max_tokens``; a row whose client
  went away (``job.gone``) is forced to end at the next token, so it costs
  nothing more and blocks nobody;
- tools / ``response_format`` on a local model: one ``llm.generate_batch``
  call (constrained decoding batches too);
- any other LLM (remote, fake): ``generate_batch`` for plain requests,
  ``generate_stream`` for streams, each in its own thread (it stops reading
  a stream whose client went away).

Results go back through ``job.emit``: ``str`` deltas, then the final
:class:`~augment.types.Completion` (or an exception), then :data:`DONE`.
``emit`` never blocks (it puts on a queue), so a client that does not read
cannot stall the engine.

>>> from augment.llm.fake import FakeLLM
>>> engine = Engine(FakeLLM(["Hello there."])).start()
>>> EngineLLM(engine).complete("hi").text
'Hello there.'
>>> engine.stop()
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from augment.llm.base import LLM, GenerateOptions, StreamItem
from augment.types import Completion, Message

__all__ = ["Engine", "EngineLLM", "Job", "DONE"]

DONE = object()  # the last item a job emits
#: seconds the engine waits for more requests after the first. Clients whose requests ended with the last
#: batch send their next one a few ms later (HTTP on loopback): 5 ms caught 5.3 of 8 such clients a batch,
#: 30 ms caught 7.3 (tools/bench_serve.py, 8 clients); 30 ms is under half a decoded token of the default model.
WINDOW = 0.03


@dataclass
class Job:
    """One conversation to complete; ``emit`` receives deltas, the Completion (or an error), then DONE."""

    messages: list[Message]
    options: GenerateOptions
    emit: Callable[[Any], None]
    stream: bool = True
    gone: threading.Event = field(default_factory=threading.Event)
    prompt_ids: list[int] | None = None  # tokenized prompt (local models), set by Engine.prepare

    def finish(self, item: Any) -> None:
        self.emit(item)
        self.emit(DONE)


def _is_local(llm: LLM) -> bool:
    from augment.llm.transformers import TransformersLLM

    return isinstance(llm, TransformersLLM)


class Engine:
    """Batches the jobs that arrive within ``window`` seconds (at most ``max_batch``) into one model call.

    ``batching=False`` runs one job at a time (the baseline the benchmark compares with).
    """

    def __init__(self, llm: LLM, window: float = WINDOW, max_batch: int = 16, batching: bool = True):
        self.llm, self.window, self.max_batch, self.batching = llm, window, max(1, max_batch), batching
        self.local = _is_local(llm)
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # model calls made (a batch of k rows counts once)
        self.rows = 0

    # ---- life cycle -------------------------------------------------------
    def start(self) -> "Engine":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="augment-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    # ---- submitting -------------------------------------------------------
    def prepare(self, job: Job) -> Job:
        """Tokenize a local model's prompt now, in the caller's thread: a prompt over the context window
        raises ContextLengthError here, before any reply is sent."""
        if self.local and not self._constrained(job.options):
            enc, _ = self.llm._encode([self.llm.render_prompt(job.messages)], job.options.max_tokens)
            job.prompt_ids = enc["input_ids"][0].tolist()
        return job

    def submit(self, job: Job) -> Job:
        self._queue.put(job)
        return job

    # ---- the engine thread ------------------------------------------------
    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            if self.batching:
                deadline = time.monotonic() + self.window
                while len(jobs) < self.max_batch:
                    try:
                        nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)
                        break
                    jobs.append(nxt)
            groups: dict[tuple, list[Job]] = {}
            for j in jobs:
                if not j.gone.is_set():
                    groups.setdefault(self._key(j), []).append(j)
            for key, group in groups.items():
                self._run_group(key[0], group)

    @staticmethod
    def _constrained(options: GenerateOptions) -> bool:
        return bool(options.tools or options.response_format)

    def _key(self, job: Job) -> tuple:
        if self.local and not self._constrained(job.options):
            return ("rows", job.options.model_dump_json(exclude={"max_tokens"}))
        kind = "batch" if self.local or not job.stream else "stream"
        return (kind, job.options.model_dump_json(), id(job) if kind == "stream" else 0)

    def _run_group(self, kind: str, jobs: list[Job]) -> None:
        self.batches += 1
        self.rows += len(jobs)
        try:
            if kind == "rows":
                _Rows(self.llm, jobs).run()
            elif kind == "batch":
                results = self.llm.generate_batch([j.messages for j in jobs], jobs[0].options)
                for j, c in zip(jobs, results):
                    if c.text and j.stream:
                        j.emit(c.text)
                    j.finish(c)
            else:  # a remote or custom model: each stream in its own thread, so a long one delays nobody
                threading.Thread(target=self._run_stream, args=(jobs[0],), daemon=True).start()
        except BaseException as e:  # a model failure goes to the clients; the engine keeps serving
            for j in jobs:
                j.finish(e)

    def _run_stream(self, job: Job) -> None:
        try:
            self._stream_items(job)
        except BaseException as e:
            job.finish(e)

    def _stream_items(self, job: Job) -> None:
        items = self.llm.generate_stream(job.messages, job.options)
        try:
            for item in items:
                if job.gone.is_set():
                    break
                if isinstance(item, Completion):
                    job.finish(item)
                    return
                job.emit(item)
        finally:
            getattr(items, "close", lambda: None)()
        job.finish(RuntimeError("the model's stream ended without a final completion"))


class _RowControl:
    """A logits processor that ends a row (forces end-of-sequence) once its client is gone or its own
    ``max_tokens`` is reached."""

    def __init__(self, jobs: list[Job], limits: list[int], eos_id: int, start: int):
        self.jobs, self.limits, self.eos_id, self.start = jobs, limits, eos_id, start

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        made = input_ids.shape[1] - self.start
        for i, job in enumerate(self.jobs):
            if job.gone.is_set() or made >= self.limits[i]:
                scores[i, :] = float("-inf")
                scores[i, self.eos_id] = 0.0
        return scores


class _Rows:
    """One padded ``generate`` call for several jobs; a streamer that hands each row its own text."""

    def __init__(self, llm: Any, jobs: list[Job]):
        self.llm, self.jobs = llm, jobs
        window = llm.context_window
        self.limits = [j.options.max_tokens if llm.is_seq2seq else
                       max(1, min(j.options.max_tokens, window - len(j.prompt_ids))) for j in jobs]
        self.ids: list[list[int]] = [[] for _ in jobs]
        self.emitted = [0] * len(jobs)
        self.done = [False] * len(jobs)
        self.eos = set(llm._eos_ids)
        self.options = jobs[0].options
        self._prompt_seen = False

    def run(self) -> None:
        from augment.llm.transformers import Generated  # noqa: F401 - used in _end

        llm = self.llm
        enc = llm.tokenizer.pad({"input_ids": [j.prompt_ids for j in self.jobs]}, padding=True, return_tensors="pt")
        enc = enc.to(llm.device)
        max_new = max(self.limits)
        start = 1 if llm.is_seq2seq else enc["input_ids"].shape[1]
        control = _RowControl(self.jobs, self.limits, llm._eos_ids[0], start)
        options = self.options.model_copy(update={"max_tokens": max_new})
        llm._run(enc, max_new, options, logits_processor=[control], streamer=self)
        for i in range(len(self.jobs)):
            if not self.done[i]:
                self._end(i, hit_eos=False)

    # ---- the streamer interface of transformers' generate ------------------
    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # the prompt (or the decoder start token) comes first
            self._prompt_seen = True
            return
        for i, token in enumerate(value.reshape(-1).tolist()):
            if self.done[i]:
                continue
            if token in self.eos:
                self._end(i, hit_eos=True)
                continue
            self.ids[i].append(token)
            self._push(i)
            if not self.done[i] and len(self.ids[i]) >= self.limits[i]:
                self._end(i, hit_eos=False)

    def end(self) -> None:
        pass

    def _push(self, i: int) -> None:
        from augment.llm import _hf

        text = self.llm.tokenizer.decode(self.ids[i], skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return  # half a character: wait for the rest of its bytes
        stop = self.options.stop
        cut = _hf.find_stop(text, stop)
        safe = cut if cut is not None else len(text) - _hf.stop_holdback(text, stop)
        if safe > self.emitted[i]:
            self.jobs[i].emit(text[self.emitted[i]:safe])
            self.emitted[i] = safe
        if cut is not None:
            self._end(i, hit_eos=False)

    def _end(self, i: int, hit_eos: bool) -> None:
        from augment.llm.transformers import Generated

        self.done[i] = True
        job = self.jobs[i]
        gen = Generated(self.ids[i], len(job.prompt_ids), hit_eos, self.limits[i])
        completion = self.llm._to_completion(gen, self.options)
        if len(completion.text) > self.emitted[i]:
            job.emit(completion.text[self.emitted[i]:])
        job.finish(completion)


class EngineLLM(LLM):
    """An LLM whose calls go through an :class:`Engine`, so the RAG and agent modes' calls from
    concurrent requests are batched too. Other attributes come from the engine's model."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.model_name = engine.llm.model_name
        self.context_window = engine.llm.context_window

    def __getattr__(self, name: str) -> Any:
        if name == "engine":
            raise AttributeError(name)
        return getattr(self.engine.llm, name)

    def _submit(self, messages: list[Message], options: GenerateOptions, stream: bool) -> tuple[Job, queue.Queue]:
        out: queue.Queue = queue.Queue()
        job = self.engine.submit(self.engine.prepare(Job(messages, options, out.put, stream=stream)))
        return job, out

    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        return self.generate_batch([messages], options)[0]

    def generate_batch(self, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
        outs = [self._submit(c, options, stream=False)[1] for c in conversations]
        return [_final(out) for out in outs]

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        job, out = self._submit(messages, options, stream=True)
        try:
            while True:
                item = out.get()
                if item is DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.gone.set()

    def count_tokens(self, text: str) -> int:
        return self.engine.llm.count_tokens(text)

    def render_prompt(self, messages: Any, **options: Any) -> str:
        return self.engine.llm.render_prompt(messages, **options)


def _final(out: queue.Queue) -> Completion:
    result: Any = None
    while True:
        item = out.get()
        if item is DONE:
            break
        if isinstance(item, (Completion, BaseException)):
            result = item
    if isinstance(result, BaseException):
        raise result
    return result
