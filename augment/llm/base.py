"""The LLM interface: one base class, one method to implement.

Subclass :class:`LLM` and implement :meth:`LLM.generate`; ``complete``,
``stream``, ``batch`` and the async twins come for free (override
``generate_stream`` / ``generate_batch`` for real streaming and batching).

>>> from augment.llm.fake import FakeLLM
>>> llm = FakeLLM(["Paris."])
>>> llm.complete("Capital of France?").text
'Paris.'
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from typing import Any, AsyncIterator, Iterator, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from augment.errors import ConfigError, InvalidMessagesError
from augment.tracing import trace_chat
from augment.types import ROLES, Completion, Message, ToolCall

__all__ = ["LLM", "GenerateOptions", "MessagesLike", "normalize_messages", "normalize_tools", "StreamItem"]

MessagesLike = Union[str, Message, dict, Sequence[Union[Message, dict]]]
StreamItem = Union[str, Completion]


class GenerateOptions(BaseModel):
    """Validated generation options. Unknown keys are rejected.

    ``tools`` are OpenAI-style function specs (dicts), or objects with a
    ``spec()`` method returning one (augment tools). ``response_format`` is a
    JSON schema dict, a pydantic model class, or ``{"type": "json_object"}``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    max_tokens: int = Field(256, gt=0, description="maximum number of new tokens")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | None = None  # "auto" | "required" | "none" | a tool name
    response_format: dict[str, Any] | None = None
    adapter: str | None = None  # a loaded LoRA adapter to use for this request (local), or the served adapter's model name (remote)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [v]
        return v

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, v: Any) -> Any:
        return normalize_tools(v)

    @field_validator("response_format", mode="before")
    @classmethod
    def _response_format(cls, v: Any) -> Any:
        if isinstance(v, type) and issubclass(v, BaseModel):
            return v.model_json_schema()
        return v

    @classmethod
    def build(cls, **options: Any) -> "GenerateOptions":
        """Validate ``options``; raise :class:`ConfigError` naming the bad option and the fix."""
        try:
            return cls(**options)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "options"
                if err["type"] == "extra_forbidden":
                    known = ", ".join(cls.model_fields)
                    problems.append(f"unknown option '{loc}' (known options: {known})")
                else:
                    problems.append(f"option '{loc}'={err.get('input')!r}: {err['msg']}")
            raise ConfigError("Invalid generation options: " + "; ".join(problems)) from None

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0


def normalize_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Turn tools (augment ``Tool`` objects, LangChain-style or OpenAI dicts) into OpenAI function specs."""
    if tools is None:
        return None
    if not isinstance(tools, (list, tuple)):
        tools = [tools]
    out = []
    for t in tools:
        if hasattr(t, "spec") and callable(t.spec):
            t = t.spec()
        if not isinstance(t, dict):
            raise ConfigError(
                f"option 'tools': cannot use {t!r} as a tool; pass augment tools (@tool) or OpenAI function dicts"
            )
        if "function" not in t:
            if "name" not in t:
                raise ConfigError("option 'tools': a tool dict needs a 'name' (or an OpenAI {'type': 'function', 'function': {...}} dict)")
            t = {"type": "function", "function": t}
        out.append(t)
    return out


def _check_unicode(text: str, where: str) -> None:
    """Raise :class:`InvalidMessagesError` for text that cannot be encoded (a lone surrogate), before a tokenizer fails on it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidMessagesError(
            f"{where} holds a character that is not valid Unicode text ({e.object[e.start:e.end]!r} at "
            f"position {e.start}, e.g. a lone surrogate from a broken decode); fix the text, e.g. "
            "text.encode('utf-8', 'replace').decode('utf-8')"
        ) from None


def _normalize_one(m: Any, i: int) -> Message:
    if isinstance(m, dict):
        unknown = set(m) - {"role", "content", "tool_calls", "tool_call_id", "name"}
        if unknown:
            raise InvalidMessagesError(f"message {i} has unknown keys {sorted(unknown)}; use role, content, tool_calls, tool_call_id, name")
        if "role" not in m:
            raise InvalidMessagesError(f"message {i} has no 'role'; give one of {', '.join(ROLES)}")
        m = Message.from_dict(m)
    elif not isinstance(m, Message):
        raise InvalidMessagesError(
            f"message {i} is a {type(m).__name__}; pass a str, an augment Message or a dict with 'role' and 'content'"
        )
    if m.role not in ROLES:
        raise InvalidMessagesError(f"message {i} has role {m.role!r}; the role must be one of {', '.join(ROLES)}")
    if not isinstance(m.content, str):
        raise InvalidMessagesError(
            f"message {i} ({m.role}) has content of type {type(m.content).__name__}; content must be a str"
        )
    _check_unicode(m.content, f"message {i} ({m.role})")
    for tc in m.tool_calls:
        if not isinstance(tc, ToolCall):
            raise InvalidMessagesError(f"message {i}: tool_calls must be augment ToolCall objects or OpenAI dicts")
    return m


def normalize_messages(messages: MessagesLike) -> list[Message]:
    """Accept a string, one message or a list of messages; validate and return ``list[Message]``."""
    if isinstance(messages, str):
        if not messages.strip():
            raise InvalidMessagesError("the prompt is empty; pass a non-empty string or a list of messages")
        _check_unicode(messages, "the prompt")
        return [Message.user(messages)]
    if isinstance(messages, (Message, dict)):
        messages = [messages]
    if messages is None or not isinstance(messages, Sequence) or isinstance(messages, (bytes, bytearray)):
        raise InvalidMessagesError(
            f"messages must be a str or a list of messages, got {type(messages).__name__}"
        )
    if len(messages) == 0:
        raise InvalidMessagesError("the conversation is empty; pass at least one message")
    out = [_normalize_one(m, i) for i, m in enumerate(messages)]
    if all(m.role == "system" for m in out):
        raise InvalidMessagesError("the conversation has only system messages; add a user message")
    return out


class LLM(ABC):
    """Base class of every language model in augment.

    Implement :meth:`generate`. Users call :meth:`complete` (or the instance
    itself), :meth:`stream`, :meth:`batch`, :meth:`acomplete`, :meth:`astream`.

    Example::

        class Echo(LLM):
            def generate(self, messages, options):
                return Completion(text=messages[-1].content)

        Echo().complete("hello").text  # 'hello'
    """

    #: a short name of the model, shown in completions and traces
    model_name: str = "llm"
    #: the model's context window in tokens, when known
    context_window: int | None = None

    # ---- to implement -------------------------------------------------
    @abstractmethod
    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        """Generate one completion for a validated conversation."""

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        """Yield text deltas, then the final :class:`Completion`. Default: one delta."""
        completion = self.generate(messages, options)
        if completion.text:
            yield completion.text
        yield completion

    def generate_batch(self, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
        """Generate one completion per conversation. Default: a loop; local models batch for real."""
        return [self.generate(c, options) for c in conversations]

    # ---- public API ----------------------------------------------------
    def complete(self, messages: MessagesLike, **options: Any) -> Completion:
        """Complete a conversation (a str is a one-message user conversation)."""
        msgs, opts = normalize_messages(messages), GenerateOptions.build(**options)
        with trace_chat(self, msgs, opts) as span:  # an OpenTelemetry span (a no-op until tracing is configured)
            return span.done(self.generate(msgs, opts))

    __call__ = complete

    def stream(self, messages: MessagesLike, **options: Any) -> Iterator[StreamItem]:
        """Yield ``str`` deltas as they are generated, then the final :class:`Completion`."""
        msgs = normalize_messages(messages)
        opts = GenerateOptions.build(**options)
        return self.generate_stream(msgs, opts)

    def batch(self, conversations: Sequence[MessagesLike], **options: Any) -> list[Completion]:
        """Complete several conversations at once (one padded batch on local models)."""
        if isinstance(conversations, (str, Message, dict)) or not isinstance(conversations, Sequence):
            raise InvalidMessagesError("batch() takes a list of conversations, e.g. ['q1', 'q2']")
        if len(conversations) == 0:
            return []
        convs, opts = [normalize_messages(c) for c in conversations], GenerateOptions.build(**options)
        with trace_chat(self, convs[0], opts) as span:  # one span for the batch; usage summed over it
            span.set("augment.batch.size", len(convs))
            return span.done(self.generate_batch(convs, opts))

    async def acomplete(self, messages: MessagesLike, **options: Any) -> Completion:
        """Async :meth:`complete` (runs in a worker thread unless overridden)."""
        msgs = normalize_messages(messages)
        opts = GenerateOptions.build(**options)
        return await asyncio.to_thread(self.generate, msgs, opts)

    async def abatch(self, conversations: Sequence[MessagesLike], **options: Any) -> list[Completion]:
        """Async :meth:`batch`."""
        return await asyncio.to_thread(self.batch, conversations, **options)

    async def astream(self, messages: MessagesLike, **options: Any) -> AsyncIterator[StreamItem]:
        """Async :meth:`stream`: items are produced in a worker thread and handed over as they come."""
        msgs = normalize_messages(messages)
        opts = GenerateOptions.build(**options)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()
        gone = threading.Event()  # set when the consumer stops early: the worker closes the generator

        def post(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop closed after the consumer left
                gone.set()

        def worker() -> None:
            items = self.generate_stream(msgs, opts)
            try:
                for item in items:
                    if gone.is_set():
                        break
                    post(item)
            except BaseException as e:  # handed to the consumer, re-raised there
                post(e)
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
                post(done)

        threading.Thread(target=worker, daemon=True).start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            gone.set()

    def score(self, messages: MessagesLike, continuations: Sequence[str], **options: Any) -> list[Any]:
        """Log-probability of each continuation as the start of the reply: a list of
        :class:`~augment.llm.scoring.ContinuationScore` (``logprob`` sum, ``mean_logprob``).
        Models that cannot score raise :class:`~augment.errors.ScoringUnavailableError`."""
        from augment.llm.scoring import check_continuations, check_score_options

        check_score_options(options)
        return self.score_continuations(normalize_messages(messages), check_continuations(continuations), **options)

    def score_continuations(self, messages: list[Message], continuations: list[str], **options: Any) -> list[Any]:
        """Implement likelihood scoring for validated inputs (see :mod:`augment.llm.scoring`)."""
        from augment.llm.scoring import unavailable

        raise unavailable(self)

    # ---- helpers -------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Approximate token count (4 characters a token); local models count exactly."""
        return max(1, len(text) // 4)

    def render_prompt(self, messages: MessagesLike, **options: Any) -> str:
        """The exact text sent to the model (for remote models: the JSON messages)."""
        import json

        return json.dumps([m.to_dict() for m in normalize_messages(messages)], indent=2, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r})"
