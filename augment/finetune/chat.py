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

__all__ = ["format_chat", "chat_prompt", "chat_target", "chat_segments"]


def _messages(record: dict, where: str) -> list[Message]:
    raw = record.get("messages")
    if not isinstance(raw, list) or len(raw) < 2:
        raise DataError(f"{where}: a chat record needs 'messages', a list of at least two messages ending with the assistant's")
    try:
        msgs = [Message.from_dict(m) for m in raw]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{where}: a message is malformed ({e}); each needs 'role' and 'content'") from e
    if msgs[-1].role != "assistant":
        raise DataError(f"{where}: the last message must be the assistant turn to learn, not {msgs[-1].role!r}")
    return msgs


def _options(record: dict) -> GenerateOptions | None:
    tools = record.get("tools")
    if not tools:
        return None
    return GenerateOptions(tools=tools, tool_choice=record.get("tool_choice") or "auto")


def _prompt(history: list[Message], options: GenerateOptions | None, tokenizer: Any) -> str:
    if options is None:
        return _hf.render_prompt(tokenizer, history)
    return _hf.render_prompt(tokenizer, constrained_messages(history, options), options.tools)


def _target(message: Message, options: GenerateOptions | None, where: str) -> str:
    if options is not None:
        return reply_json(message)
    if message.tool_calls:
        raise DataError(f"{where}: the assistant calls a tool but the record has no 'tools'; add the tool specs")
    return message.content


def chat_prompt(record: dict, tokenizer: Any, where: str = "record") -> str:
    """The exact prompt text inference builds before the record's last assistant turn."""
    return _prompt(_messages(record, where)[:-1], _options(record), tokenizer)


def chat_target(record: dict, where: str = "record") -> str:
    """The text the model should write for the last turn: the JSON of a tool turn, else the assistant's content."""
    return _target(_messages(record, where)[-1], _options(record), where)


def chat_segments(record: dict, tokenizer: Any, where: str = "record") -> list[tuple[str, bool]]:
    """The record as ``(text, learn)`` pieces: each assistant turn (learn=True) after the exact prompt that
    inference renders for it (learn=False). One sequence teaches every turn of an agent episode."""
    msgs, options = _messages(record, where), _options(record)
    end = _end_of_turn(tokenizer)
    pieces: list[tuple[str, bool]] = []
    done = ""  # the text covered so far
    for j, m in enumerate(msgs):
        if m.role != "assistant" or j == 0:
            continue
        prompt = _prompt(msgs[:j], options, tokenizer)
        if not prompt.startswith(done):
            raise DataError(f"{where}: the chat template does not render turn {j} as a continuation of the earlier "
                            "turns; split the record into one record per assistant turn")
        target = _target(m, options, where) + end
        pieces += [(prompt[len(done):], False), (target, True)]
        done = prompt + target
    return pieces


def format_chat(records: Sequence[dict], tokenizer: Any, *, max_length: int = 1024, system: str | None = None) -> Formatted:
    """Tokenize chat/tool records; ``labels`` are -100 everywhere but the assistant turns and their end-of-turn markers.

    Every assistant turn of a record is learned, each after the exact prompt
    inference shows for it (an agent episode: call, observation, call,
    observation, answer - one sequence). Records longer than ``max_length``
    tokens are dropped (cutting would remove a target) and counted in
    ``Formatted.dropped``. ``system`` is ignored: each record has its own.
    """
    out = Formatted([])
    for i, r in enumerate(records):
        ids: list[int] = []
        labels: list[int] = []
        for text, learn in chat_segments(r, tokenizer, f"record {i + 1}"):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if learn else [IGNORE] * len(piece)
        if len(ids) > max_length:
            out.dropped += 1
            continue
        out.features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
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
