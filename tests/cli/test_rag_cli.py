"""rag_ask / rag_chat (behind `augment ask|chat --collection`): real Chroma + real embedder, scripted LLM."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from augment.cli._rag_chat import rag_ask, rag_chat
from augment.errors import StoreError
from augment.llm.fake import FakeLLM

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def samples_db(default_embedder, tmp_path_factory):
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.store import ChromaStore

    db = tmp_path_factory.mktemp("rag-cli") / "db"
    store = ChromaStore("samples", path=db, embedder=default_embedder)
    report = ingest([ROOT / "examples" / "docs"], store, glob="*.md", ignore=("README.md",), progress=False)
    assert report.added > 5 and not report.failed
    ChromaStore("empty", path=db, embedder=default_embedder)
    return db


def test_ask_prints_answer_and_cited_sources(samples_db, default_embedder):
    out = io.StringIO()
    llm = FakeLLM(["The Eiffel Tower is about 330 metres tall including its antennas [1]. It is blue [8]."])
    answer = rag_ask(llm, "How tall is the Eiffel Tower?", "samples", db=str(samples_db), out=out,
                     embedder=default_embedder)
    text = out.getvalue()
    assert text.startswith("The Eiffel Tower is about 330 metres tall including its antennas [1]. It is blue.")
    assert "Not supported by the cited sources:\n  ! It is blue." in text
    assert "Sources:\n  [1] " in text and "eiffel_tower.md (score 0." in text
    assert answer.removed_citations == [8]


def test_ask_streams_and_shows_prompt(samples_db, default_embedder):
    out = io.StringIO()
    llm = FakeLLM(["Bees dance to show where food is [2]."])
    rag_ask(llm, "What does the waggle dance tell other bees?", "samples", db=str(samples_db), stream=True,
            show_prompt=True, out=out, embedder=default_embedder)
    text = out.getvalue()
    assert "Question: What does the waggle dance tell other bees?" in text and "[1] (Honey Bees)" in text
    assert "Bees dance to show where food is [2]." in text and "honey_bees.md" in text


def test_ask_abstains_off_topic_without_the_llm(samples_db, default_embedder):
    out = io.StringIO()
    llm = FakeLLM([])
    answer = rag_ask(llm, "Who won the 1998 football world cup?", "samples", db=str(samples_db), out=out,
                     embedder=default_embedder)
    assert answer.abstained and out.getvalue().startswith("I don't know") and llm.calls == []


def test_chat_keeps_history_and_rewrites_follow_ups(samples_db, default_embedder):
    llm = FakeLLM(["The Eiffel Tower is about 330 metres tall [1].",
                   "How often is the Eiffel Tower repainted?",
                   "It is repainted about every seven years [1]."])
    out = io.StringIO()
    history = rag_chat(llm, "samples", db=str(samples_db), input_stream=io.StringIO(
        "How tall is the Eiffel Tower?\n\nAnd how often is it painted?\nexit\nnever read\n"), out=out,
        embedder=default_embedder)
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant"]
    assert "Last question: And how often is it painted?" in llm.calls[1].messages[-1].content
    assert "seven years" in history[-1].content and out.getvalue().count("Sources:") == 2


def test_unknown_and_empty_collections_are_clear_errors(samples_db, default_embedder):
    with pytest.raises(StoreError, match="does not exist.*augment ingest"):
        rag_ask(FakeLLM([]), "q?", "nope", db=str(samples_db), embedder=default_embedder)
    with pytest.raises(StoreError, match="is empty.*augment ingest"):
        rag_ask(FakeLLM([]), "q?", "empty", db=str(samples_db), embedder=default_embedder)


@pytest.mark.real_model
def test_augment_ask_collection_end_to_end(samples_db):
    """`augment ask --collection` through click, with the real default model (few tokens)."""
    from click.testing import CliRunner

    from augment.cli import main

    result = CliRunner().invoke(main, ["ask", "--collection", "samples", "--db", str(samples_db), "--max-tokens", "24",
                                       "How tall is the Eiffel Tower?"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() and "Sources" in result.output and "eiffel_tower.md (score" in result.output
    missing = CliRunner().invoke(main, ["ask", "--collection", "nope", "--db", str(samples_db), "q?"])
    assert missing.exit_code != 0 and "does not exist" in missing.output
