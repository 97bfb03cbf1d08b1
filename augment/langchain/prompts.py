"""Prompt templates both ways: an augment :class:`~augment.prompts.PromptTemplate` as a LangChain
``ChatPromptTemplate``, and a LangChain prompt (f-string placeholders) as an augment template.

>>> from augment.prompts import PromptTemplate
>>> lc = to_langchain_prompt(PromptTemplate([("system", "Be brief."), ("user", "Hi {name}")]))
>>> [m.content for m in lc.format_messages(name="Ada")]
['Be brief.', 'Hi Ada']
>>> from_langchain_prompt(lc).render(name="Ada")[1].content
'Hi Ada'
"""

from __future__ import annotations

from typing import Any

from langchain_core import messages as lc_messages
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.prompts import PromptTemplate as LCPromptTemplate

from augment.errors import TemplateError
from augment.prompts.template import PromptTemplate

__all__ = ["to_langchain_prompt", "from_langchain_prompt"]

_TO_LC = {"user": "human", "assistant": "ai", "system": "system"}
_FROM_LC = {"human": "user", "ai": "assistant", "system": "system", "user": "user", "assistant": "assistant"}
_BY_CLASS = {"HumanMessagePromptTemplate": "user", "AIMessagePromptTemplate": "assistant",
             "SystemMessagePromptTemplate": "system", "ChatMessagePromptTemplate": None}


def to_langchain_prompt(template: PromptTemplate) -> ChatPromptTemplate:
    """``template`` as a LangChain ``ChatPromptTemplate`` (same f-string placeholders)."""
    if not isinstance(template, PromptTemplate):
        raise TemplateError(f"to_langchain_prompt needs an augment PromptTemplate, got {type(template).__name__}")
    return ChatPromptTemplate.from_messages([(_TO_LC[r], t) for r, t in template.messages])


def from_langchain_prompt(prompt: Any) -> PromptTemplate:
    """A LangChain ``ChatPromptTemplate`` (or ``PromptTemplate``) with f-string placeholders as an augment template.

    Only text role messages convert; a ``MessagesPlaceholder`` or an image prompt raises :class:`TemplateError`.
    """
    if isinstance(prompt, LCPromptTemplate):
        return PromptTemplate([("user", _fstring(prompt))])
    if not isinstance(prompt, ChatPromptTemplate):
        raise TemplateError(f"cannot convert {type(prompt).__name__}; pass a LangChain ChatPromptTemplate or PromptTemplate")
    parts = []
    for m in prompt.messages:
        if isinstance(m, lc_messages.BaseMessage):
            role = _FROM_LC.get(m.type)
            if role is None or not isinstance(m.content, str):
                raise TemplateError(f"cannot convert LangChain message of type {m.type!r}")
            parts.append((role, m.content.replace("{", "{{").replace("}", "}}")))
            continue
        name = type(m).__name__
        inner = getattr(m, "prompt", None)
        if name not in _BY_CLASS or not isinstance(inner, LCPromptTemplate):
            raise TemplateError(
                f"cannot convert {name} (e.g. a MessagesPlaceholder or an image prompt); only text role messages convert"
            )
        role = _BY_CLASS[name] or _FROM_LC.get(getattr(m, "role", ""), "")
        if not role:
            raise TemplateError(f"cannot convert a LangChain message with role {getattr(m, 'role', None)!r}")
        parts.append((role, _fstring(inner)))
    return PromptTemplate(parts)


def _fstring(prompt: Any) -> str:
    if getattr(prompt, "template_format", "f-string") != "f-string":
        raise TemplateError(f"only f-string LangChain templates convert, not {prompt.template_format!r}")
    return prompt.template
