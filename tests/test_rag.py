"""RAG: prompt with numbered sources, citation checks, abstention, history rewrite, streaming.

Logic tests use FakeLLM; one end-to-end test uses the real default model, the real
embedder and a real persistent Chroma collection in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment.errors import ConfigError, InvalidMessagesError
from augment.llm.fake import FakeLLM
from augment.rag import NO_ANSWER, RAG, RAGAnswer
from augment.rag_checks import SupportChecker, check_answer, content_words, split_sentences
from augment.retrieval.retriever import ListRetriever
from augment.types import Document, Message, ScoredDocument

ROOT = Path(__file__).resolve().parents[1]

SOURCES = [
    Document("The Eiffel Tower is about 330 metres tall including its antennas.", {"source": "docs/eiffel.md"}, id="h"),
    Document("The tower is repainted about every seven years with 60 tonnes of paint.", {"source": "docs/eiffel.md"}, id="p"),
]


def rag_with(replies, docs=SOURCES, **kw) -> tuple[RAG, FakeLLM]:
    llm = FakeLLM(replies)
    return RAG(llm, ListRetriever(docs), **kw), llm


def test_prompt_numbers_the_sources_and_is_visible():
    rag, llm = rag_with(["It is about 330 metres tall [1]."])
    answer = rag.ask("How tall is the Eiffel Tower?")
    sent = llm.calls[0].messages
    assert sent[0].role == "system" and "square brackets" in sent[0].content
    user = sent[-1].content
    assert "[1] (docs/eiffel.md) The Eiffel Tower is about 330 metres" in user
    assert "[2] (docs/eiffel.md) The tower is repainted" in user
    assert "Question: How tall is the Eiffel Tower?" in user
    # FakeLLM renders the exact messages as JSON; TransformersLLM renders its chat template
    assert json.loads(answer.prompt)[-1]["content"] == user
    assert answer.prompt == rag.show_prompt("How tall is the Eiffel Tower?")
    assert answer.citations == {1: answer.sources[0]} and answer.sources[0].id == "h"
    assert not answer.unsupported and not answer.abstained
    assert answer.format_sources() == "[1] docs/eiffel.md (score 1.000)"


def test_invalid_citation_is_removed():
    rag, _ = rag_with(["The tower is about 330 metres tall [1][5]. It is repainted every seven years [9]."])
    answer = rag.ask("Tell me about the tower")
    assert "[5]" not in answer.answer and "[9]" not in answer.answer
    assert sorted(answer.removed_citations) == [5, 9]
    assert answer.answer.startswith("The tower is about 330 metres tall [1].")
    # the second sentence lost its only citation; the fallback finds its real source
    assert answer.sentences[1].citations == [2] and answer.sentences[1].inferred
    assert set(answer.citations) == {1, 2} and answer.inferred_citations == [2]


def test_unsupported_sentence_is_flagged():
    rag, _ = rag_with(["The tower is 330 metres tall [1]. It was designed by Leonardo da Vinci in Rome [1]."])
    answer = rag.ask("Who designed it?")
    assert answer.unsupported == ["It was designed by Leonardo da Vinci in Rome [1]."]
    assert answer.sentences[0].supported is True and answer.sentences[1].flagged
    assert answer.sentences[1].overlap < 0.5


def test_uncited_supported_sentence_gets_an_inferred_citation():
    rag, _ = rag_with(["It is repainted every seven years with 60 tonnes of paint. Paris loves cheese."])
    answer = rag.ask("How often is it painted?")
    assert answer.answer == "It is repainted every seven years with 60 tonnes of paint [2]. Paris loves cheese."
    assert answer.sentences[0].inferred and answer.sentences[0].supported
    assert answer.unsupported == ["Paris loves cheese."]
    no_infer, _ = rag_with(["It is repainted every seven years with 60 tonnes of paint."], infer_citations=False)
    assert no_infer.ask("q").unsupported == ["It is repainted every seven years with 60 tonnes of paint."]


def test_abstains_without_calling_the_llm():
    llm = FakeLLM([])  # any call would raise ScriptExhaustedError
    answer = RAG(llm, ListRetriever([])).ask("What is the capital of Mars?")
    assert answer.abstained and answer.answer == NO_ANSWER and answer.sources == [] and llm.calls == [] and answer.reader == "none"
    low = [ScoredDocument(SOURCES[0], 0.1)]
    custom = RAG(llm, ListRetriever(low), score_threshold=0.5, no_answer="No idea.").ask("Who won in 1998?")
    assert custom.answer == "No idea." and custom.abstained and llm.calls == []
    assert "without calling the model" in RAG(llm, ListRetriever([])).show_prompt("x")


def test_history_is_rewritten_into_a_standalone_query():
    seen = []

    class Recording(ListRetriever):
        def retrieve(self, query, k=4):
            seen.append(query)
            return super().retrieve(query, k)

    llm = FakeLLM(["How often is the Eiffel Tower repainted?", "About every seven years [2]."])
    rag = RAG(llm, Recording(SOURCES))
    history = [Message.user("How tall is the Eiffel Tower?"), Message.assistant("About 330 metres [1]."),
               Message.user("And how often is it painted?")]
    answer = rag.chat(history)
    rewrite_call = llm.calls[0].messages[-1].content
    assert "user: How tall is the Eiffel Tower?" in rewrite_call and "assistant: About 330 metres [1]." in rewrite_call
    assert "Last question: And how often is it painted?" in rewrite_call
    assert answer.rewrite_prompt == rewrite_call
    assert seen == ["How often is the Eiffel Tower repainted?"]
    assert answer.query == "How often is the Eiffel Tower repainted?" and answer.question == history[-1].content
    final = llm.calls[1].messages
    assert [m.role for m in final] == ["system", "user", "assistant", "user"]
    assert answer.citations == {2: answer.sources[1]}
    off, llm2 = rag_with(["Fine [1]."], history_rewrite=False)
    assert off.chat(history).rewrite_prompt is None and len(llm2.calls) == 1


def test_stream_yields_deltas_then_the_checked_answer():
    rag, _ = rag_with(["The tower is about 330 metres tall [1][4]."])
    items = list(rag.stream("How tall?"))
    deltas, final = items[:-1], items[-1]
    assert all(isinstance(d, str) for d in deltas) and len(deltas) > 3
    assert "".join(deltas) == "The tower is about 330 metres tall [1][4]."
    assert isinstance(final, RAGAnswer) and final.answer == "The tower is about 330 metres tall [1]."
    abstain = list(RAG(FakeLLM([]), ListRetriever([])).stream("x?"))
    assert abstain[0] == NO_ANSWER and abstain[-1].abstained


def test_bad_input_is_refused_clearly():
    with pytest.raises(ConfigError, match="augment LLM"):
        RAG("gpt", ListRetriever(SOURCES))
    with pytest.raises(ConfigError, match="retriever"):
        RAG(FakeLLM([]), object())
    with pytest.raises(ConfigError, match="{sources}"):
        RAG(FakeLLM([]), ListRetriever(SOURCES), prompt="Question: {question}")
    with pytest.raises(ConfigError, match="unknown option 'temprature'"):
        RAG(FakeLLM([]), ListRetriever(SOURCES), temprature=0.5)
    rag, _ = rag_with([])
    with pytest.raises(InvalidMessagesError, match="non-empty"):
        rag.ask("   ")
    with pytest.raises(InvalidMessagesError, match="last message"):
        rag.chat([Message.user("hi"), Message.assistant("hello")])


def test_check_rules_directly():
    assert split_sentences("A is b. [1] C is d.")[0] == ["A is b [1].", "C is d."]
    assert content_words("The tables were built in 1889 [2].") == {"table", "built", "1889"}
    checked = check_answer("Sure! Water boils at 100 degrees [1, 3].", ["Water boils at 100 degrees Celsius."])
    assert checked.text == "Sure! Water boils at 100 degrees [1]." and checked.removed == [3]
    assert checked.sentences[0].supported is None  # no content words: not checked
    assert check_answer("I don't know.", ["x y z"]).sentences[0].supported is None
    assert not SupportChecker().supports("Cats sleep sixteen hours.", "Dogs bark at night.")[0]


class _Sim:
    """An embedder stand-in whose vectors make two given texts similar."""

    def embed_documents(self, texts):
        import numpy as np

        return np.array([[1.0, 0.0] for _ in texts], dtype=np.float32)

    def embed_query(self, text):
        import numpy as np

        return np.array([0.8, 0.6], dtype=np.float32)


def test_embedding_similarity_is_a_second_opinion():
    sentence, source = "The structure rises roughly a third of a kilometre.", "The Eiffel Tower is 330 metres tall."
    assert not SupportChecker().supports(sentence, source)[0]
    ok, overlap, sim = SupportChecker(embedder=_Sim(), min_similarity=0.75).supports(sentence, source)
    assert ok and overlap < 0.5 and sim == pytest.approx(0.8)
    assert not SupportChecker(embedder=_Sim(), min_similarity=0.9).supports(sentence, source)[0]


@pytest.mark.real_model
def test_real_rag_answer_with_checked_citations(default_llm, default_embedder, tmp_path):
    from augment.retrieval.bm25 import BM25Retriever
    from augment.retrieval.ingestion import ingest
    from augment.retrieval.retriever import DenseRetriever, HybridRetriever
    from augment.retrieval.store import ChromaStore

    store = ChromaStore("samples", path=tmp_path / "db", embedder=default_embedder)
    report = ingest([ROOT / "examples" / "docs"], store, glob="*.md", ignore=("README.md",), progress=False)
    assert report.added > 5 and not report.failed
    retriever = HybridRetriever([DenseRetriever(store, score_threshold=0.3), BM25Retriever(store)], gate=0)
    rag = RAG(default_llm, retriever, k=3, max_tokens=60)
    answer = rag.ask("How tall is the Eiffel Tower?")
    assert "eiffel_tower.md" in answer.sources[0].metadata["source"]
    assert answer.answer.strip() and not answer.abstained
    assert "330 metres" in answer.prompt and "[1]" in answer.prompt
    assert answer.citations, answer.raw_answer  # cited by the model or by the checked fallback
    for n, src in answer.citations.items():
        assert f"[{n}]" in answer.answer and src is answer.sources[n - 1]
    for s in answer.sentences:
        if s.citations and not s.flagged:
            assert any(SupportChecker().supports(s.text, answer.sources[n - 1].text)[0] for n in s.citations) \
                or s.similarity is not None
    nothing = rag.ask("What is the airspeed velocity of an unladen swallow?")
    assert nothing.abstained and nothing.answer == NO_ANSWER


def test_copied_source_headers_and_cut_sentences_are_cleaned():
    from augment.rag import clean_answer
    from augment.types import Completion

    raw = "[4] (Honey Bees) ## Bees cluster around the queen in winter. They shiver.\n[5] (Honey Bees) ## Bees make"
    assert clean_answer(raw, truncated=True) == "Bees cluster around the queen in winter. They shiver."
    assert clean_answer("The tower (in Paris) is tall [1].") == "The tower (in Paris) is tall [1]."
    assert clean_answer("Only one unfinished sentence", truncated=True) == "Only one unfinished sentence"
    assert clean_answer("The answer is: 330 metres [1].") == "330 metres [1]."
    cut = Completion("The tower is about 330 metres tall [1]. It was built in", finish_reason="length")
    rag, _ = rag_with([cut])
    assert rag.ask("How tall?").answer == "The tower is about 330 metres tall [1]."


def test_non_citation_brackets_repeats_and_dangling_statements_are_dropped():
    from augment.rag import EMPTY_ANSWER, clean_answer

    # bracketed text that is not a citation, and one left open at max_tokens (replies of the default model)
    raw = "The console weighs 1.1 kg [1.1 kg / 1000 grams] [1.1 kg / 1000 grams] [1.1 kg"
    assert clean_answer(raw, truncated=True) == "The console weighs 1.1 kg"
    assert clean_answer("Use [1, 2] and version 2.1 here [3].") == "Use [1, 2] and version 2.1 here [3]."
    # a sentence or list line said again is said once
    assert clean_answer("It is 3.5 kg [2]. It is 3.5 kg [2]. Yes.") == "It is 3.5 kg [2]. Yes."
    assert clean_answer("Levels: [1]\n- 5 levels [1]\n- 5 levels [1]") == "Levels: [1]\n- 5 levels [1]"
    # a statement that stops where its answer should be says nothing: the chatbot abstains
    assert clean_answer("The price of the HX-20 is [1].") == ""
    assert clean_answer("The file is called: [2]. It is on the card [2].") == "It is on the card [2]."
    rag, _ = rag_with(["The price of the tower is [1]."])
    out = rag.ask("How much does the tower cost?")
    assert out.answer == EMPTY_ANSWER and out.abstained and out.raw_answer == "The price of the tower is [1]."


def test_a_reply_without_content_becomes_i_dont_know():
    from augment.rag import EMPTY_ANSWER

    rag, _ = rag_with(["The answer is: [4]."])
    answer = rag.ask("How tall?")
    assert answer.answer == EMPTY_ANSWER and answer.abstained and answer.raw_answer == "The answer is: [4]."
    assert answer.removed_citations == [4] and answer.citations == {}


MANUAL = [Document("The console memory holds 100,000 records.", {"source": "history.md"}),
          Document("Each tip of the rain bucket equals 0.3 mm of rain.", {"source": "rain.md"})]


def test_a_citation_to_the_wrong_source_is_moved_to_the_one_that_supports_it():
    rag = RAG(FakeLLM(["The console memory holds 100,000 records [2]."]), ListRetriever(MANUAL))
    a = rag.ask("How many records does the console hold?")
    assert a.answer == "The console memory holds 100,000 records [1]."
    assert list(a.citations) == [1] and a.sentences[0].corrected_from == [2] and not a.unsupported


def test_a_figure_no_source_contains_is_unsupported_and_the_answer_abstains():
    rag = RAG(FakeLLM(["The console memory holds 250,000 records [1]."]), ListRetriever(MANUAL))
    a = rag.ask("How many records does the console hold?")
    assert a.abstained and a.answer.startswith("I don't know")
    assert a.raw_answer == "The console memory holds 250,000 records [1]."  # nothing the model wrote is lost
    kept = RAG(FakeLLM(["The console memory holds 250,000 records [1]."]), ListRetriever(MANUAL),
               abstain_unsupported=False).ask("How many records?")
    assert not kept.abstained and kept.unsupported == ["The console memory holds 250,000 records [1]."]


def test_figures_are_compared_normalised():
    from augment.rag_checks import figures

    checker = SupportChecker()
    assert figures("100,000 records and 0.3 mm [2]") == {"100000", "0.3"}
    assert checker.supports("It holds 100000 records.", "The console memory holds 100,000 records.")[0]
    assert not checker.supports("It holds 100,001 records.", "The console memory holds 100,000 records.")[0]


class _LeaningFake(FakeLLM):
    """A fake that scores: it gives the reply "I don't know." the probability ``p_idk`` (logic only)."""

    def __init__(self, replies, p_idk):
        super().__init__(replies)
        self.p_idk, self.scored = p_idk, []

    def score_continuations(self, messages, continuations, **options):
        import math

        from augment.llm.scoring import ContinuationScore

        self.scored.append((messages, continuations, options))
        return [ContinuationScore(c, math.log(self.p_idk), 1) for c in continuations]


def test_abstain_threshold_turns_a_leaning_model_into_i_dont_know():
    from augment.rag import IDK_REPLY, UNSURE_ANSWER

    reply = "The console memory holds 100,000 records [1]."
    leaning = _LeaningFake([reply], p_idk=0.5)
    a = RAG(leaning, ListRetriever(MANUAL), abstain_threshold=0.3).ask("How many records does the console hold?")
    assert a.answer == UNSURE_ANSWER and a.abstained and a.citations == {}
    assert a.raw_answer == reply and a.idk_probability == pytest.approx(0.5)  # nothing the model wrote is lost
    messages, continuations, _ = leaning.scored[0]
    assert continuations == [IDK_REPLY] and messages[-1].content.endswith("Answer:")  # the same prompt as generation
    sure = RAG(_LeaningFake([reply], p_idk=0.1), ListRetriever(MANUAL), abstain_threshold=0.3).ask("How many records?")
    assert sure.answer == reply and not sure.abstained and sure.idk_probability == pytest.approx(0.1)
    off = _LeaningFake([reply], p_idk=0.9)
    assert RAG(off, ListRetriever(MANUAL)).ask("How many records?").idk_probability is None and not off.scored
    # a model that cannot score (a remote server without logprobs): the answer stands, no probability
    plain = RAG(FakeLLM([reply]), ListRetriever(MANUAL), abstain_threshold=0.3).ask("How many records?")
    assert plain.answer == reply and plain.idk_probability is None


def test_an_i_dont_know_answer_cites_nothing():
    a = RAG(FakeLLM(["The console memory holds 250,000 records [1]."]), ListRetriever(MANUAL)).ask("How many records?")
    assert a.abstained and a.citations == {} and "[1]" not in a.answer


SHOP = [Document("Replacement brake pads cost EUR 14 per wheel.", {"source": "parts.md"}),
        Document("The bike weighs 17.8 kg with the battery fitted.", {"source": "specs.md"})]


def test_an_answer_without_the_kind_of_fact_asked_for_abstains():
    from augment.rag import UNTYPED_ANSWER

    wrong_kind = "The bike weighs 17.8 kg [2]."  # true and cited, but the question asks for a price
    a = RAG(FakeLLM([wrong_kind]), ListRetriever(SHOP)).ask("What do replacement brake pads cost?")
    assert a.answer == UNTYPED_ANSWER.format(kind="a price") and a.abstained and a.citations == {}
    assert a.raw_answer == wrong_kind  # nothing the model wrote is lost
    right = RAG(FakeLLM(["Brake pads cost EUR 14 per wheel [1]."]), ListRetriever(SHOP)).ask("What do brake pads cost?")
    assert not right.abstained and list(right.citations) == [1]
    # a question that asks for no particular kind of fact is never judged by it
    named = RAG(FakeLLM([wrong_kind]), ListRetriever(SHOP)).ask("Tell me about the bike.")
    assert not named.abstained and named.answer == wrong_kind
    off = RAG(FakeLLM([wrong_kind]), ListRetriever(SHOP), check_answer_type=False).ask("What do brake pads cost?")
    assert not off.abstained and off.answer == wrong_kind


def test_a_figure_of_the_asked_kind_that_no_source_states_abstains():
    from augment.rag import UNGROUNDED_ANSWER

    bike = [Document("The Fold 20 climbs steep hills easily in boost mode.", {"source": "modes.md"}),
            Document("The battery leaves the factory at 30% charge.", {"source": "battery.md"})]
    reply = "The Fold 20 climbs 20% in boost mode [1]."  # the 20 is the product's name, not a gradient
    a = RAG(FakeLLM([reply]), ListRetriever(bike)).ask("How steep a hill, in percent, can the Fold 20 climb?")
    assert a.answer == UNGROUNDED_ANSWER.format(kind="a percentage") and a.abstained and a.citations == {}
    assert a.raw_answer == reply
    stated = [Document("The Fold 20 climbs slopes of up to 12% in boost mode.", {"source": "modes.md"})]
    ok = RAG(FakeLLM(["The Fold 20 climbs 12% in boost mode [1]."]), ListRetriever(stated)).ask(
        "How steep a hill, in percent, can the Fold 20 climb?")
    assert not ok.abstained and list(ok.citations) == [1]
    # "EUR 14" and "14 euros" are the same price: the unit may be written either side
    shop = [Document("Replacement brake pads cost 14 euros per wheel.", {"source": "parts.md"})]
    same = RAG(FakeLLM(["Brake pads cost EUR 14 per wheel [1]."]), ListRetriever(shop)).ask("What do brake pads cost?")
    assert not same.abstained
    off = RAG(FakeLLM([reply]), ListRetriever(bike), check_answer_type=False).ask("How steep, in percent?")
    assert not off.abstained


@pytest.mark.parametrize("question,kind", [
    ("What do replacement brake pads cost?", "a price"),
    ("How heavy is the whole bike?", "a weight"),
    ("In which year was the company founded?", "a year"),
    ("What year was the company founded?", "a year"),
    ("What is the phone number of the service desk?", "a phone number"),
    ("How many charge cycles does the battery last?", "a number"),
    ("How many extra temperature probes can be added?", "a number"),  # a count, not a temperature
    ("How many hours does the battery last?", "a duration"),
    ("How long does a full charge take?", "a duration"),
    ("What is the maximum torque of the motor?", "a number"),
    ("How often is the tower repainted?", "a frequency"),
    ("Who makes the motor?", None),
    ("What colour is the charger light?", None),
])
def test_expected_answer_type(question, kind):
    from augment.rag_checks import expected_answer_type

    found = expected_answer_type(question)
    assert (found.name if found else None) == kind


def test_answer_types_ignore_the_citation_markers():
    from augment.rag_checks import expected_answer_type

    number = expected_answer_type("How many records does the console hold?")
    assert number.matches("It holds one hundred thousand records.") and number.matches("It holds 100,000 records [1].")
    assert not number.matches("It holds many records [1].")  # the [1] is a citation, not a figure


@pytest.mark.parametrize("bad", [0, 0.0, 1.5, -0.2, True, "high", "auto"])
def test_a_bad_abstain_threshold_is_refused(bad):
    with pytest.raises(ConfigError, match="abstain_threshold"):
        RAG(FakeLLM(["x"]), ListRetriever(MANUAL), abstain_threshold=bad)


def test_real_model_idk_probability_is_its_own_score(default_llm):
    import math

    rag = RAG(default_llm, ListRetriever(SOURCES), k=2, max_tokens=40, abstain_threshold=1.0)
    a = rag.ask("How tall is the Eiffel Tower?")
    assert a.idk_probability is not None and 0.0 < a.idk_probability < 1.0
    messages = rag.build_messages(a.question, a.sources)
    [s] = default_llm.score(messages, ["I don't know."], **({"adapter": rag.options["adapter"]}
                                                            if rag.options.get("adapter") else {}))
    assert a.idk_probability == pytest.approx(math.exp(s.logprob), rel=1e-6)
