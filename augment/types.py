"""Plain data types shared by every part of augment.

>>> from augment.types import Message
>>> Message.user("hi").to_dict()
{'role': 'user', 'content': 'hi'}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Role",
    "ROLES",
    "ToolCall",
    "Message",
    "Usage",
    "Completion",
    "Document",
    "ScoredDocument",
]

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


def _new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:12]


@dataclass
class ToolCall:
    """A request by the model to call tool ``name`` with ``arguments``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_new_call_id)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI wire format."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToolCall":
        fn = data.get("function", data)
        args = fn.get("arguments") or {}
        if isinstance(args, str):
            args = json.loads(args) if args.strip() else {}
        return cls(name=fn["name"], arguments=args, id=data.get("id") or _new_call_id())


@dataclass
class Message:
    """One turn of a conversation.

    >>> Message.system("Be brief.").role
    'system'
    """

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> "Message":
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> "Message":
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: list[ToolCall] | None = None) -> "Message":
        return cls("assistant", content, tool_calls=list(tool_calls or []))

    @classmethod
    def tool(cls, content: str, tool_call_id: str | None = None, name: str | None = None) -> "Message":
        return cls("tool", content, tool_call_id=tool_call_id, name=name)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI / chat-template wire format."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        calls = [ToolCall.from_dict(c) for c in data.get("tool_calls") or []]
        return cls(
            role=data.get("role"),  # type: ignore[arg-type]
            content=data.get("content") if data.get("content") is not None else "",
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


@dataclass
class Usage:
    """Token counts of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """What a model returned: text and/or tool calls, why it stopped, and token usage.

    ``finish_reason`` is ``"stop"`` (natural end or stop string), ``"length"``
    (hit ``max_tokens``) or ``"tool_calls"``.
    """

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    parsed: Any = None  # the JSON value when response_format was given

    @property
    def message(self) -> Message:
        return Message.assistant(self.text, self.tool_calls)

    def __str__(self) -> str:
        return self.text


@dataclass
class Document:
    """A piece of text with metadata (source, title, position...)."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class ScoredDocument:
    """A document returned by a retriever with its relevance score (higher is better)."""

    document: Document
    score: float

    @property
    def text(self) -> str:
        return self.document.text

    @property
    def metadata(self) -> dict[str, Any]:
        return self.document.metadata

    @property
    def id(self) -> str | None:
        return self.document.id
