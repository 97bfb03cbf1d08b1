"""Chat and tool-use records -> training features, rendered exactly as inference renders them.

A record is one conversation whose last message is the assistant turn to learn::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "What is 12 boxes of 24?"},
                  {"role": "assistant", "content": "",
                   "tool_calls": [{"function": {"name": "calculator", "arguments": {"expression": "12 * 24"}}}]}],
     "tools": [<OpenAI tool specs>],          # optional: the turn is a constrained tool turn
     "tool_choice": "auto"}                   # optional, as at inference

With ``tools`` the prompt is what :mod:`augment.llm.constrained` sends for that
conversation (format instruction + tool descriptions through the same chat
template) and the target is the exact JSON the grammar lets the model write
(:func:`augment.llm.constrained.reply_json`); without ``tools`` the target is the
assistant text. Either way the loss covers only the target and its end-of-turn
token. This is how augment's own default adapter was trained (``make adapter``).

>>> from augment.finetune.chat import chat_target
>>> chat_target({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]})
'Hello!'
"""

from __future__ import annotations

from typing import Any, Sequence

from augment.errors import DataError
from augment.finetune.formatting import IGNORE, Formatted
from augment.llm import _hf
from augment.llm.base import GenerateOptions
from augment.llm.constrained import constrained_messages, reply_json
from augment.types import Message

__all__ = ["format_chat", "chat_prompt", "chat_target"]


def _split(record: dict, where: str) -> tuple[list[Message], Message]:
    raw = record.get("messages")
    if not isinstance(raw, list) or len(raw) < 2:
        raise DataError(f"{where}: a chat record needs 'messages', a list of at least two messages ending with the assistant's")
    try:
        msgs = [Message.from_dict(m) for m in raw]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{where}: a message is malformed ({e}); each needs 'role' and 'content'") from e
    if msgs[-1].role != "assistant":
        raise DataError(f"{where}: the last message must be the assistant turn to learn, not {msgs[-1].role!r}")
    return msgs[:-1], msgs[-1]


def _options(record: dict) -> GenerateOptions | None:
    tools = record.get("tools")
    if not tools:
        return None
    return GenerateOptions(tools=tools, tool_choice=record.get("tool_choice") or "auto")


def chat_prompt(record: dict, tokenizer: Any, where: str = "record") -> str:
    """The exact prompt text inference builds for this record's conversation."""
    history, _ = _split(record, where)
    options = _options(record)
    if options is None:
        return _hf.render_prompt(tokenizer, history)
    return _hf.render_prompt(tokenizer, constrained_messages(history, options), options.tools)


def chat_target(record: dict, where: str = "record") -> str:
    """The text the model should write: the JSON of a tool turn, else the assistant's content."""
    _, last = _split(record, where)
    if record.get("tools"):
        return reply_json(last)
    if last.tool_calls:
        raise DataError(f"{where}: the assistant calls a tool but the record has no 'tools'; add the tool specs")
    return last.content


def format_chat(records: Sequence[dict], tokenizer: Any, *, max_length: int = 1024, system: str | None = None) -> Formatted:
    """Tokenize chat/tool records; ``labels`` are -100 everywhere but the target and its end-of-turn marker.

    Records longer than ``max_length`` tokens are dropped (cutting would remove
    the target) and counted in ``Formatted.dropped``. ``system`` is ignored:
    each record carries its own system message.
    """
    out = Formatted([])
    end = _end_of_turn(tokenizer)
    for i, r in enumerate(records):
        where = f"record {i + 1}"
        prompt, target = chat_prompt(r, tokenizer, where), chat_target(r, where) + end
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(target, add_special_tokens=False)["input_ids"]
        if len(p) + len(a) > max_length:
            out.dropped += 1
            continue
        out.features.append({"input_ids": p + a, "attention_mask": [1] * (len(p) + len(a)),
                             "labels": [IGNORE] * len(p) + a})
    if not out.features:
        raise DataError(f"every record is longer than max_length={max_length} tokens; raise max_length")
    return out


def _end_of_turn(tokenizer: Any) -> str:
    """What the chat template writes after an assistant message (e.g. ``<|im_end|>\\n``), else the EOS token."""
    if getattr(tokenizer, "chat_template", None):
        marker = "\x00augment\x00"
        text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}],
                                             tokenize=False)
        if marker in text:
            tail = text.split(marker, 1)[1]
            if tail.strip():
                return tail
    return tokenizer.eos_token or ""
