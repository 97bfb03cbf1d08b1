"""Turn records into model inputs for each task.

* instruction pairs -> the chat template, loss only on the answer tokens
  (``labels`` is -100 on the prompt);
* classification -> ``input_ids`` + an integer ``labels``;
* token classification (NER) -> word labels aligned to sub-word tokens
  (first sub-token labelled, the rest -100);
* seq2seq -> encoder ``input_ids`` and decoder ``labels``;
* preference pairs -> prompt + chosen / rejected answers, each with its answer mask.

Every formatter returns a :class:`Formatted` (the features and how many
examples were truncated to ``max_length``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from augment.errors import DataError
from augment.finetune.data import check_labels, require_columns

__all__ = [
    "Formatted",
    "PROMPT_COLUMNS",
    "ANSWER_COLUMNS",
    "instruction_prompt",
    "format_instruction",
    "format_classification",
    "format_token_classification",
    "format_seq2seq",
    "format_preference",
    "collate",
]

IGNORE = -100
PROMPT_COLUMNS = ("instruction", "prompt", "question", "input")
ANSWER_COLUMNS = ("output", "response", "answer", "completion")
FALLBACK_TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"


@dataclass
class Formatted:
    """Model-ready features (a list of dicts of token id lists) plus bookkeeping.

    >>> f = Formatted([{"input_ids": [1, 2], "labels": [-100, 2]}], truncated=1)
    >>> len(f), f.truncated
    (1, 1)
    """

    features: list[dict[str, Any]]
    truncated: int = 0
    dropped: int = 0
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)


def _messages(prompt: str, system: str | None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def instruction_prompt(tokenizer: Any, prompt: str, system: str | None = None) -> str:
    """The exact text the model sees before its answer (chat template with the generation prompt)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(_messages(prompt, system), tokenize=False, add_generation_prompt=True)
    return FALLBACK_TEMPLATE.format(prompt=prompt)


def _answer_text(tokenizer: Any, prompt: str, answer: str, system: str | None) -> tuple[str, str]:
    """(prompt text, answer text incl. the end-of-turn marker) such that prompt + answer is the full chat."""
    head = instruction_prompt(tokenizer, prompt, system)
    if getattr(tokenizer, "chat_template", None):
        full = tokenizer.apply_chat_template(
            _messages(prompt, system) + [{"role": "assistant", "content": answer}], tokenize=False
        )
        if full.startswith(head):
            return head, full[len(head):]
    return head, answer + (tokenizer.eos_token or "")


def _prompt_of(r: dict, cols: dict[str, str]) -> str:
    prompt = str(r[cols["instruction"]])
    extra = r.get("input") if cols["instruction"] != "input" else None
    return f"{prompt}\n\n{extra}" if extra else prompt


def _pair_ids(tokenizer: Any, head: str, answer: str, max_length: int) -> tuple[list[int], list[int], bool]:
    p = tokenizer(head, add_special_tokens=False)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and getattr(tokenizer, "add_bos_token", False) and (not p or p[0] != bos):
        p = [bos] + p
    ids, labels = p + a, [IGNORE] * len(p) + a
    truncated = len(ids) > max_length
    return ids[:max_length], labels[:max_length], truncated


def format_instruction(
    records: Sequence[dict], tokenizer: Any, *, max_length: int = 512, system: str | None = None
) -> Formatted:
    """Instruction/answer pairs (columns instruction|prompt|question [+ input] and output|response|answer).

    The prompt goes through the tokenizer's chat template; ``labels`` is -100 on
    every prompt token so the loss is computed only on the answer (and its
    end-of-turn token). Examples longer than ``max_length`` are cut; those left
    with no answer token are dropped. Both are counted.
    """
    cols = require_columns(records, [PROMPT_COLUMNS, ANSWER_COLUMNS], "instruction tuning")
    out = Formatted([])
    for r in records:
        head, answer = _answer_text(tokenizer, _prompt_of(r, cols), str(r[cols["output"]]), system)
        ids, labels, cut = _pair_ids(tokenizer, head, answer, max_length)
        out.truncated += cut
        if all(x == IGNORE for x in labels):
            out.dropped += 1
            continue
        out.features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    if not out.features:
        raise DataError(f"no example keeps an answer token within max_length={max_length}; raise max_length")
    return out


def label_list(values: Sequence[Any], labels: Sequence[str] | None) -> list[str]:
    """The label set: ``labels`` when given (checked against the data), else the sorted labels found."""
    flat = [str(x) for v in values for x in (v if isinstance(v, list) else [v])]
    if labels is None:
        return sorted(set(flat))
    labels = [str(x) for x in labels]
    check_labels(flat, labels)
    return labels


def format_classification(
    records: Sequence[dict], tokenizer: Any, *, labels: Sequence[str] | None = None, max_length: int = 256
) -> Formatted:
    """Columns ``text`` (or ``sentence``) [+ ``text_pair``] and ``label``; labels map to ids in ``labels`` order."""
    cols = require_columns(records, [("text", "sentence"), "label"], "classification")
    label_names = label_list([r["label"] for r in records], labels)
    index = {name: i for i, name in enumerate(label_names)}
    out = Formatted([], labels=label_names)
    for r in records:
        pair = r.get("text_pair")
        enc = tokenizer(str(r[cols["text"]]), str(pair) if pair else None, truncation=True, max_length=max_length)
        full = len(tokenizer(str(r[cols["text"]]), str(pair) if pair else None)["input_ids"])
        out.truncated += full > max_length
        out.features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                             "labels": index[str(r["label"])]})
    return out


def format_token_classification(
    records: Sequence[dict], tokenizer: Any, *, labels: Sequence[str] | None = None, max_length: int = 256,
    label_all_subtokens: bool = False,
) -> Formatted:
    """Columns ``tokens`` (words) and ``tags`` / ``ner_tags`` (one label per word, e.g. B-PER).

    Each word's label goes to its first sub-word token; the other sub-tokens and
    special tokens get -100 (or the same label with ``label_all_subtokens``).
    """
    cols = require_columns(records, ["tokens", ("tags", "ner_tags", "labels")], "token classification")
    for i, r in enumerate(records):
        if len(r["tokens"]) != len(r[cols["tags"]]):
            raise DataError(f"record {i} has {len(r['tokens'])} tokens but {len(r[cols['tags']])} tags; give one tag per word")
    label_names = label_list([r[cols["tags"]] for r in records], labels)
    index = {name: i for i, name in enumerate(label_names)}
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("token classification needs a fast tokenizer (word_ids); load the tokenizer with use_fast=True")
    out = Formatted([], labels=label_names)
    for r in records:
        enc = tokenizer(list(map(str, r["tokens"])), is_split_into_words=True, truncation=True, max_length=max_length)
        n_full = len(tokenizer(list(map(str, r["tokens"])), is_split_into_words=True)["input_ids"])
        out.truncated += n_full > max_length
        tags, prev, aligned = r[cols["tags"]], None, []
        for w in enc.word_ids():
            if w is None:
                aligned.append(IGNORE)
            elif w != prev or label_all_subtokens:
                aligned.append(index[str(tags[w])])
            else:
                aligned.append(IGNORE)
            prev = w
        out.features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": aligned})
    return out


def format_seq2seq(
    records: Sequence[dict], tokenizer: Any, *, max_length: int = 512, max_target_length: int = 128, prefix: str = ""
) -> Formatted:
    """Columns ``source`` (or ``input``/``text``/``document``) and ``target`` (or ``summary``/``output``)."""
    cols = require_columns(records, [("source", "input", "text", "document"), ("target", "summary", "output")], "seq2seq")
    out = Formatted([])
    for r in records:
        src = prefix + str(r[cols["source"]])
        enc = tokenizer(src, truncation=True, max_length=max_length)
        tgt = tokenizer(text_target=str(r[cols["target"]]), truncation=True, max_length=max_target_length)
        full_src = len(tokenizer(src)["input_ids"])
        full_tgt = len(tokenizer(text_target=str(r[cols["target"]]))["input_ids"])
        out.truncated += full_src > max_length or full_tgt > max_target_length
        out.features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": tgt["input_ids"]})
    return out


def format_preference(
    records: Sequence[Any], tokenizer: Any, *, max_length: int = 512, system: str | None = None
) -> Formatted:
    """(prompt, chosen, rejected) records -> ``chosen_*`` and ``rejected_*`` ids with answer-only labels."""
    recs = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
    require_columns(recs, ["prompt", "chosen", "rejected"], "preference tuning")
    out = Formatted([])
    for r in recs:
        feat: dict[str, Any] = {}
        for side in ("chosen", "rejected"):
            head, answer = _answer_text(tokenizer, str(r["prompt"]), str(r[side]), system)
            ids, labels, cut = _pair_ids(tokenizer, head, answer, max_length)
            out.truncated += cut
            feat[f"{side}_input_ids"], feat[f"{side}_attention_mask"], feat[f"{side}_labels"] = ids, [1] * len(ids), labels
        if all(x == IGNORE for x in feat["chosen_labels"]) or all(x == IGNORE for x in feat["rejected_labels"]):
            out.dropped += 1
            continue
        out.features.append(feat)
    if not out.features:
        raise DataError(f"no preference pair keeps answer tokens within max_length={max_length}; raise max_length")
    return out


def collate(features: list[dict[str, Any]], pad_token_id: int = 0) -> dict[str, Any]:
    """Right-pad every list field: ``*labels`` with -100, ``*attention_mask`` with 0, ids with ``pad_token_id``."""
    import torch

    batch: dict[str, Any] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], (list, tuple)):
            pad = IGNORE if key.endswith("labels") else 0 if key.endswith("attention_mask") else pad_token_id
            width = max(len(v) for v in values)
            batch[key] = torch.tensor([list(v) + [pad] * (width - len(v)) for v in values], dtype=torch.long)
        elif isinstance(values[0], float):
            batch[key] = torch.tensor(values, dtype=torch.float32)
        else:
            batch[key] = torch.tensor(values, dtype=torch.long)
    return batch
