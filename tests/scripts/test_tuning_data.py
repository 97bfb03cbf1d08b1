"""tools/make_manual_data.py: the grounded-answer records the default adapter's second stage trains on."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from augment.rag import IDK_REPLY, QUESTION_TEMPLATE, SYSTEM_PROMPT

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    mod = _load("make_manual_data")
    out = tmp_path_factory.mktemp("manual") / "m.jsonl"
    mod.main(["--records", "120", "--seed", "3", "--out", str(out)])
    return mod, [json.loads(line) for line in out.read_text().splitlines()]


def _sources(user: str) -> dict[int, str]:
    block = user.split("\n\nQuestion: ")[0].removeprefix("Sources:\n")
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (.*)$", block, re.M)}


def test_records_are_rag_turns_as_the_chatbot_builds_them(records):
    _, rows = records
    assert len(rows) == 120
    for r in rows:
        system, user, reply = r["messages"]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert user["role"] == "user" and user["content"].startswith(QUESTION_TEMPLATE.split("{")[0])
        assert user["content"].endswith("\nAnswer:") and reply["role"] == "assistant"
        assert 2 <= len(_sources(user["content"])) <= 5


def test_answers_copy_a_sentence_of_the_cited_source_and_idk_otherwise(records):
    _, rows = records
    kinds = {r["kind"] for r in rows}
    assert kinds >= {"grounded", "unanswerable"}
    for r in rows:
        _, user, reply = r["messages"]
        if r["kind"] == "grounded":
            m = re.fullmatch(r"(.+) \[(\d+)\]\.", reply["content"])
            assert m, reply["content"]
            sources = _sources(user["content"])
            assert m.group(1) + "." in sources[int(m.group(2))]
            # and no other source states it (the citation is the one right source)
            assert sum(m.group(1) + "." in s for s in sources.values()) == 1
        else:
            assert reply["content"] == IDK_REPLY


def test_questions_paraphrase_and_sources_are_long(records):
    _, rows = records
    lengths = [len(r["messages"][1]["content"]) for r in rows]
    assert sum(lengths) / len(lengths) > 1500  # manual-like sections, not one-line facts
    copied = 0
    for r in rows:
        if r["kind"] == "grounded":
            q = r["messages"][1]["content"].rsplit("Question: ", 1)[1].split("\n")[0].lower()
            sentence = r["messages"][2]["content"].lower()
            qw = set(re.findall(r"[a-z]{4,}", q)) - {"what", "does", "much", "many", "long", "which"}
            copied += qw <= set(re.findall(r"[a-z]{4,}", sentence))
    assert copied < 0.5 * sum(r["kind"] == "grounded" for r in rows)


def test_nothing_of_the_evaluation_sets_is_in_the_records(records):
    mod, rows = records
    spans, questions = mod.held_out_qa("rag_eval", "rag_dev")
    assert len(spans) > 30 and len(questions) == 74
    for r in rows:
        text = "\n".join(m["content"] for m in r["messages"])
        assert not any(re.search(r"(?<![\w.])" + re.escape(s) + r"(?!\w)", text) for s in spans)
        q = r["messages"][1]["content"].rsplit("Question: ", 1)[1].split("\n")[0].strip().lower()
        assert q not in questions


def test_seeded(tmp_path):
    mod = _load("make_manual_data")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    mod.main(["--records", "5", "--seed", "9", "--out", str(a)])
    mod.main(["--records", "5", "--seed", "9", "--out", str(b)])
    assert a.read_text() == b.read_text()
