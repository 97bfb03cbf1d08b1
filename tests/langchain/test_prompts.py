"""Prompt templates to and from LangChain (augment/langchain/prompts.py)."""

import pytest

from augment.errors import TemplateError
from augment.langchain import from_langchain_prompt, to_langchain_prompt
from augment.prompts import PromptTemplate


def test_langchain_round_trip():
    from langchain_core.prompts import ChatPromptTemplate

    t = PromptTemplate([("system", "You are {persona}."), ("user", "Hi {name}"), ("assistant", "Hello"), ("user", "{q}")])
    lc = to_langchain_prompt(t)
    assert isinstance(lc, ChatPromptTemplate)
    assert sorted(lc.input_variables) == ["name", "persona", "q"]
    lc_msgs = lc.format_messages(persona="p", name="n", q="?")
    ours = t.render(persona="p", name="n", q="?")
    assert [m.content for m in lc_msgs] == [m.content for m in ours]
    assert [m.type for m in lc_msgs] == ["system", "human", "ai", "human"]
    assert from_langchain_prompt(lc) == t
    lc2 = ChatPromptTemplate.from_messages([("system", "S {x}"), ("human", "U {y}")])
    assert from_langchain_prompt(lc2).render(x=1, y=2)[1].content == "U 2"
    with pytest.raises(TemplateError):
        from_langchain_prompt("not a prompt")
