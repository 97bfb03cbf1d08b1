"""PromptTemplate: strict rendering, visible text, LangChain round trip, packaged library."""

from __future__ import annotations

import pytest

from augment.errors import TemplateError
from augment.prompts import TEMPLATE_NAMES, PromptTemplate, load_template, template_text


def test_render_exact_messages_and_text():
    t = PromptTemplate([("system", "You are {persona}."), ("user", "Translate {word} -> {{target}}")])
    assert t.input_variables == ["persona", "word"]
    msgs = t.render(persona="a translator", word="Apple")
    assert [(m.role, m.content) for m in msgs] == [("system", "You are a translator."), ("user", "Translate Apple -> {target}")]
    assert t.render_text(persona="x", word="y") == "[system]\nYou are x.\n\n[user]\nTranslate y -> {target}"
    assert str(t) == "[system]\nYou are {persona}.\n\n[user]\nTranslate {word} -> {{target}}"


def test_missing_and_unexpected_variables_are_named():
    t = PromptTemplate("Hi {name}, you are {age}")
    with pytest.raises(TemplateError, match="missing variable 'age'"):
        t.render(name="Ann")
    with pytest.raises(TemplateError, match="unexpected variable 'agee'"):
        t.render(name="Ann", age=3, agee=4)


@pytest.mark.parametrize("bad", ["{user.name}", "{0}", "{x:>4}", "{unclosed"])
def test_bad_placeholders_rejected(bad):
    with pytest.raises(TemplateError):
        PromptTemplate(bad)


def test_bad_roles_and_empty():
    with pytest.raises(TemplateError, match="role"):
        PromptTemplate([("robot", "hi")])
    with pytest.raises(TemplateError, match="at least one"):
        PromptTemplate([])
    with pytest.raises(TemplateError, match="user message"):
        PromptTemplate([("system", "only system")])


def test_text_format_round_trip_and_partial(tmp_path):
    t = PromptTemplate([("system", "Be brief."), ("user", "Q: {q}\nA:")])
    again = PromptTemplate.from_text(str(t))
    assert again == t
    f = tmp_path / "t.txt"
    f.write_text(str(t))
    assert PromptTemplate.from_file(f) == t
    p = PromptTemplate("{a} and {b} with {{braces}}").partial(a="x{y}")
    assert p.input_variables == ["b"]
    assert p.render(b="z")[0].content == "x{y} and z with {braces}"
    with pytest.raises(TemplateError):
        PromptTemplate.from_file(tmp_path / "missing.txt")


def test_packaged_library_is_visible_text():
    assert TEMPLATE_NAMES == ["classification", "extraction", "qa", "summarization", "translation"]
    for name in TEMPLATE_NAMES:
        text = template_text(name)
        t = load_template(name)
        assert str(t) == text.strip()
        assert t.input_variables
    tr = load_template("translation").render(source="English", target="Japanese", text="Apple")
    assert tr[-1].content == "Translate from English to Japanese.\nApple ->"
    with pytest.raises(TemplateError, match="choose one of"):
        load_template("poetry")
