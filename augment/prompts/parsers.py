"""Answer parsers: turn model text into an answer, or a parse failure with the raw text.

A parser never raises on text it cannot read: it returns a
:class:`ParseResult` with ``ok=False`` and the raw text, so a benchmark can
count the failure and a program can retry.

>>> NumberParser().parse("3 apples and 4 more, so the answer is 7.").value
7
>>> r = NumberParser().parse("I don't know")
>>> (r.ok, r.raw)
(False, "I don't know")
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from augment.errors import ConfigError

__all__ = [
    "ParseResult",
    "AnswerParser",
    "NumberParser",
    "ChoiceParser",
    "YesNoParser",
    "LabelParser",
    "RegexParser",
    "JSONParser",
    "answer_segment",
]

# "the answer is X", "Answer: X", "final answer: X" -> X is what follows the last such marker
_MARKER = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def answer_segment(text: str) -> str | None:
    """The text after the last "answer is" / "Answer:" marker, or None when there is none."""
    found = list(_MARKER.finditer(text))
    return text[found[-1].end():] if found else None


@dataclass
class ParseResult:
    """The outcome of parsing: ``ok`` with ``value``, or a failure with ``error``; ``raw`` is the text parsed."""

    ok: bool
    value: Any
    raw: str
    error: str = ""

    def __bool__(self) -> bool:
        return self.ok


class AnswerParser:
    """Base class: implement :meth:`find` (text -> value or None).

    ``instruction`` ends the answer-extraction prompt of zero-shot
    chain-of-thought; ``response_format`` (a JSON schema) asks for constrained
    decoding in that step.
    """

    instruction = "Therefore, the answer is"
    response_format: dict[str, Any] | None = None
    #: what the parser looks for, for error messages
    expects = "an answer"

    def find(self, text: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def parse(self, text: str, parsed: Any = None) -> ParseResult:
        """Parse ``text`` (``parsed``: a value already decoded by constrained generation)."""
        try:
            value = self.find(text) if parsed is None else self.convert(parsed)
        except (ValueError, TypeError) as e:
            return ParseResult(False, None, text, f"could not read {self.expects}: {e}")
        if value is None:
            return ParseResult(False, None, text, f"found no {self.expects} in the text")
        return ParseResult(True, value, text)

    def convert(self, parsed: Any) -> Any:
        return parsed

    __call__ = parse


def _num(s: str) -> int | float:
    s = s.replace(",", "")
    v = float(s)
    return int(v) if v.is_integer() and "." not in s else v


class NumberParser(AnswerParser):
    """A number: the first one after an "answer is" marker, else the last one in the text.

    >>> NumberParser().parse("The answer is 1,250 dollars").value
    1250
    """

    instruction = "Therefore, the answer (a number) is"
    expects = "number"

    def find(self, text):
        seg = answer_segment(text)
        if seg is not None:
            m = _NUMBER.search(seg)
            if m:
                return _num(m.group())
        nums = _NUMBER.findall(text)
        return _num(nums[-1]) if nums else None


class ChoiceParser(AnswerParser):
    """A choice letter (default A-D): "(B)", "B)", "answer is B", or a lone capital letter.

    >>> ChoiceParser().parse("I think (c) is right").value
    'C'
    """

    expects = "choice letter"

    def __init__(self, choices: Sequence[str] = "ABCD"):
        self.choices = [c.upper() for c in choices]
        if not self.choices or any(len(c) != 1 or not c.isalpha() for c in self.choices):
            raise ConfigError(f"choices={choices!r} must be single letters, e.g. 'ABCD'")
        self.instruction = f"Therefore, among {', '.join(self.choices)}, the answer is"
        letters = "".join(self.choices)
        self._paren = re.compile(rf"\(([{letters}])\)|\b([{letters}])\)", re.IGNORECASE)
        self._lone = re.compile(rf"\b([{letters}])\b")
        self._lone_any_case = re.compile(rf"\b([{letters}])\b", re.IGNORECASE)

    def find(self, text):
        seg = answer_segment(text)
        if seg is not None:  # after "the answer is": a lone letter of either case
            m = self._paren.search(seg) or self._lone_any_case.search(seg)
            if m:
                return next(g for g in m.groups() if g).upper()
        m = self._paren.search(text)
        if m:
            return (m.group(1) or m.group(2)).upper()
        m = self._lone.search(text)  # capitals only; a lone "A" counts only as a short reply (else it is an article)
        if m and (m.group(1) != "A" or len(text.strip(" .()")) <= 1):
            return m.group(1)
        return None


class YesNoParser(AnswerParser):
    """``True`` for yes, ``False`` for no (the first yes/no word after the marker, else in the text).

    >>> YesNoParser().parse("No, it is odd.").value
    False
    """

    instruction = "Therefore, the answer (yes or no) is"
    expects = "yes or no"
    _WORD = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)

    def find(self, text):
        seg = answer_segment(text)
        m = (self._WORD.search(seg) if seg is not None else None) or self._WORD.search(text)
        return None if m is None else m.group(1).lower() in ("yes", "true")


class LabelParser(AnswerParser):
    """One of a fixed set of labels (case-insensitive whole word; the earliest mention wins).

    >>> LabelParser(["positive", "negative"]).parse("Sentiment: Negative.").value
    'negative'
    """

    expects = "label"

    def __init__(self, labels: Sequence[str]):
        self.labels = [str(x) for x in labels]
        if not self.labels:
            raise ConfigError("LabelParser needs at least one label")
        self.instruction = f"Therefore, the answer ({' or '.join(self.labels)}) is"
        self._re = re.compile(r"\b(" + "|".join(re.escape(x) for x in sorted(self.labels, key=len, reverse=True)) + r")\b",
                              re.IGNORECASE)
        self.expects = f"label among {self.labels}"

    def find(self, text):
        seg = answer_segment(text)
        m = (self._re.search(seg) if seg is not None else None) or self._re.search(text)
        if m is None:
            return None
        return next(x for x in self.labels if x.lower() == m.group(1).lower())


class RegexParser(AnswerParser):
    """The ``group`` of the first match of ``pattern`` (after the answer marker if one matches there).

    >>> RegexParser(r"([A-Z]{3})-\\d+").parse("ticket ABC-12").value
    'ABC'
    """

    def __init__(self, pattern: str, group: int | str = 1, flags: int = 0):
        try:
            self.pattern = re.compile(pattern, flags)
        except re.error as e:
            raise ConfigError(f"bad regex {pattern!r}: {e}") from None
        if isinstance(group, int) and group > self.pattern.groups:
            group = 0
        self.group = group
        self.expects = f"match of /{pattern}/"

    def find(self, text):
        seg = answer_segment(text)
        m = (self.pattern.search(seg) if seg is not None else None) or self.pattern.search(text)
        return None if m is None else m.group(self.group)


class JSONParser(AnswerParser):
    """A JSON value matching ``schema``; with chain-of-thought the answer step uses constrained decoding.

    >>> JSONParser({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}).parse('x {"n": 3}').value
    {'n': 3}
    """

    instruction = "Therefore, the answer as JSON is"
    expects = "JSON value matching the schema"

    def __init__(self, schema: dict[str, Any] | type | None = None):
        if isinstance(schema, type):
            schema = schema.model_json_schema()  # a pydantic class
        self.schema = schema or {"type": "object"}
        self.response_format = self.schema

    def convert(self, parsed):
        self._validate(parsed)
        return parsed

    def _validate(self, value: Any) -> None:
        try:
            import jsonschema
        except ImportError:  # the JSON parsed; without jsonschema we only check the top-level type
            if self.schema.get("type") == "object" and not isinstance(value, dict):
                raise ValueError("expected a JSON object") from None
            return
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as e:
            raise ValueError(e.message) from None

    def find(self, text):
        decoder = json.JSONDecoder()
        last_error = None
        for i, ch in enumerate(text):
            if ch not in "{[":
                continue
            try:
                value, _ = decoder.raw_decode(text[i:])
            except json.JSONDecodeError:
                continue
            try:
                self._validate(value)
                return value
            except ValueError as e:
                last_error = e
        if last_error is not None:
            raise last_error
        return None
