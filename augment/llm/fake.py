"""A scripted LLM for tests: replies come from a list, every request is recorded.

>>> from augment.llm.fake import FakeLLM
>>> from augment.types import ToolCall
>>> llm = FakeLLM(["first", ToolCall("calculator", {"expression": "2+2"})])
>>> llm.complete("hi").text
'first'
>>> llm.complete("again").tool_calls[0].name
'calculator'
>>> llm.calls[0].messages[0].content
'hi'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Union

from augment.errors import ScriptExhaustedError
from augment.llm.base import LLM, GenerateOptions, StreamItem
from augment.types import Completion, Message, ToolCall, Usage

__all__ = ["FakeLLM", "FakeCall"]

Reply = Union[str, Completion, ToolCall, list, dict, Callable[[list[Message], GenerateOptions], Any]]


@dataclass
class FakeCall:
    """One recorded request."""

    messages: list[Message]
    options: GenerateOptions


class FakeLLM(LLM):
    """An LLM that answers from a script and records what it was asked.

    Replies may be strings, :class:`~augment.types.ToolCall` (or a list of
    them), :class:`~augment.types.Completion`, dicts (returned as JSON text and
    ``parsed``), or callables ``f(messages, options) -> reply``. With
    ``cycle=True`` the script repeats; otherwise running out raises
    :class:`~augment.errors.ScriptExhaustedError`.
    """

    model_name = "fake"

    def __init__(self, replies: Iterable[Reply] = (), *, cycle: bool = False, context_window: int | None = 2048):
        self._replies: list[Reply] = list(replies)
        self._pos = 0
        self.cycle = cycle
        self.calls: list[FakeCall] = []
        self.context_window = context_window

    def enqueue(self, *replies: Reply) -> "FakeLLM":
        """Add replies to the end of the script."""
        self._replies.extend(replies)
        return self

    @property
    def last_messages(self) -> list[Message]:
        return self.calls[-1].messages if self.calls else []

    def _next(self, messages: list[Message], options: GenerateOptions) -> Any:
        if self._pos >= len(self._replies):
            if self.cycle and self._replies:
                self._pos = 0
            else:
                raise ScriptExhaustedError(
                    f"FakeLLM ran out of scripted replies after {len(self.calls) - 1} calls; "
                    "add more with FakeLLM([...]) or .enqueue(...), or pass cycle=True"
                )
        reply = self._replies[self._pos]
        self._pos += 1
        if callable(reply) and not isinstance(reply, (ToolCall, Completion)):
            reply = reply(messages, options)
        return reply

    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        self.calls.append(FakeCall(list(messages), options))
        reply = self._next(messages, options)
        prompt_tokens = sum(self.count_tokens(m.content) for m in messages)
        if isinstance(reply, Completion):
            return reply
        if isinstance(reply, ToolCall):
            reply = [reply]
        if isinstance(reply, list):
            return Completion("", tool_calls=list(reply), finish_reason="tool_calls",
                              usage=Usage(prompt_tokens, 1), model=self.model_name)
        if isinstance(reply, dict):
            text = json.dumps(reply)
            return Completion(text, usage=Usage(prompt_tokens, self.count_tokens(text)), model=self.model_name, parsed=reply)
        text = str(reply)
        finish = "stop"
        for s in options.stop:
            if s and s in text:
                text = text[: text.index(s)]
        words = text.split(" ")
        if len(words) > options.max_tokens:
            text, finish = " ".join(words[: options.max_tokens]), "length"
        return Completion(text, finish_reason=finish, usage=Usage(prompt_tokens, len(words)), model=self.model_name)

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        completion = self.generate(messages, options)
        for piece in re.findall(r"\S+\s*|\s+", completion.text):
            yield piece
        yield completion
