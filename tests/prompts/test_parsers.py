"""Every answer parser: values found, and failures returned (not raised) with the raw text."""

from __future__ import annotations

import pytest

from augment.errors import ConfigError
from augment.prompts import ChoiceParser, JSONParser, LabelParser, NumberParser, RegexParser, YesNoParser


@pytest.mark.parametrize("text, value", [
    ("3 + 4 = 7", 7),
    ("She had 12 apples, ate 5, so the answer is 7 apples. Check: 12 - 5 = 7", 7),
    ("The answer is 1,250.", 1250),
    ("Answer: -3.5 degrees", -3.5),
    ("first 2 then 9", 9),
])
def test_number_parser(text, value):
    r = NumberParser().parse(text)
    assert r.ok and r.value == value and r.raw == text


@pytest.mark.parametrize("text, value", [
    ("(B) is correct", "B"), ("The answer is c.", "C"), ("d)", "D"), ("A", "A"),
    ("A cat sat. So the answer is (D)", "D"),
])
def test_choice_parser(text, value):
    assert ChoiceParser().parse(text).value == value


def test_choice_parser_custom_letters_and_bad_config():
    assert ChoiceParser("ABCDE").parse("answer: E").value == "E"
    assert not ChoiceParser("AB").parse("A cat is nice").ok  # a lone article "A" is not an answer
    with pytest.raises(ConfigError):
        ChoiceParser(["AB"])


@pytest.mark.parametrize("text, value", [("Yes.", True), ("no, it is odd", False), ("It is true", True),
                                         ("Maybe... the answer is no", False)])
def test_yes_no_parser(text, value):
    assert YesNoParser().parse(text).value is value


def test_label_parser():
    p = LabelParser(["positive", "negative", "neutral"])
    assert p.parse("Sentiment: NEGATIVE!").value == "negative"
    assert p.parse("It is positive, not negative").value == "positive"
    assert not p.parse("It's positively great").ok  # whole words only


def test_regex_parser():
    assert RegexParser(r"ticket ([A-Z]+-\d+)").parse("see ticket ABC-12 now").value == "ABC-12"
    assert RegexParser(r"\d{4}").parse("in 1969 or so").value == "1969"  # no group -> whole match
    with pytest.raises(ConfigError, match="bad regex"):
        RegexParser("(")


def test_json_parser_validates_schema():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    p = JSONParser(schema)
    assert p.parse('Here: {"name": "Ann", "age": 31} done').value == {"name": "Ann", "age": 31}
    bad = p.parse('{"name": "Ann", "age": "old"}')
    assert not bad.ok and "age" in bad.error or "integer" in bad.error
    assert p.parse("x", parsed={"name": "B", "age": 2}).value == {"name": "B", "age": 2}  # constrained decoding output
    assert p.response_format == schema


@pytest.mark.parametrize("parser", [NumberParser(), ChoiceParser(), YesNoParser(), LabelParser(["pos", "neg"]),
                                    RegexParser(r"id=(\d+)"), JSONParser()])
def test_parse_failure_is_a_result_with_raw_text(parser):
    r = parser.parse("I cannot say")
    assert r.ok is False and r.value is None and r.raw == "I cannot say" and r.error
    assert not r
