"""Classifier (label likelihood, calibration, fallback) and BalancedSelector."""

from __future__ import annotations

import math
import warnings

import pytest

from augment.errors import ConfigError, ScoringUnavailableError
from augment.llm.fake import FakeLLM
from augment.llm.scoring import ContinuationScore
from augment.prompts import (
    CONTENT_FREE_INPUTS,
    BalancedSelector,
    Classifier,
    FewShot,
    PromptTemplate,
)

TEMPLATE = PromptTemplate([("system", "Classify the sentiment. Answer positive or negative."),
                           ("user", "Review: {text}\nSentiment:")])
POOL = [{"text": f"good {i}", "label": "positive"} for i in range(6)] + \
       [{"text": f"bad {i}", "label": "negative"} for i in range(3)]


class ScoringFake(FakeLLM):
    """A FakeLLM that scores: ``table`` maps the last user message's review text to label log-probs."""

    def __init__(self, table):
        super().__init__()
        self.table = table
        self.scored = []

    def score_continuations(self, messages, continuations, **options):
        text = messages[-1].content.split("Review: ", 1)[1].split("\n", 1)[0]
        self.scored.append((messages, continuations, options))
        return [ContinuationScore(c, self.table[text][c], 1, [self.table[text][c]]) for c in continuations]


def softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def test_label_with_the_highest_likelihood_wins_with_probabilities():
    llm = ScoringFake({"Loved it": {"positive": -0.5, "negative": -2.0}})
    r = Classifier(TEMPLATE, llm, ["positive", "negative"], calibrate=False)(text="Loved it")
    p = softmax([-0.5, -2.0])
    assert (r.label, r.method, r.calibrated) == ("positive", "likelihood", False)
    assert r.probabilities == pytest.approx({"positive": p[0], "negative": p[1]})
    assert r.confidence == pytest.approx(p[0]) and r.logprobs == {"positive": -0.5, "negative": -2.0}
    messages, continuations, options = llm.scored[0]
    assert continuations == ["positive", "negative"] and messages == TEMPLATE.render(text="Loved it")
    assert options == {"chat_template": False}  # the default: the labels follow the prompt as a plain transcript


def test_verbalizers_score_the_label_texts_and_return_the_label_keys():
    llm = ScoringFake({"meh": {"good": -3.0, "bad": -1.0}})
    r = Classifier(TEMPLATE, llm, {"pos": "good", "neg": "bad"}, calibrate=False)(text="meh")
    assert r.label == "neg" and set(r.probabilities) == {"pos", "neg"}


def test_mean_normalization_divides_by_the_token_count():
    class Multi(ScoringFake):
        def score_continuations(self, messages, continuations, **options):
            return [ContinuationScore("a b c", -3.0, 3, [-1.0] * 3), ContinuationScore("d", -2.0, 1, [-2.0])]

    llm = Multi({})
    assert Classifier(TEMPLATE, llm, ["a b c", "d"], calibrate=False)(text="x").label == "d"
    assert Classifier(TEMPLATE, llm, ["a b c", "d"], normalize="mean", calibrate=False)(text="x").label == "a b c"


def test_contextual_calibration_divides_out_the_content_free_prior():
    # the model leans 'positive' whatever the input; the content-free inputs reveal the lean
    table = {"so-so": {"positive": -0.6, "negative": -0.9}}
    for text, lp in zip(CONTENT_FREE_INPUTS, (-0.2, -0.3, -0.25)):
        table[text] = {"positive": lp, "negative": -1.8}
    llm = ScoringFake(table)
    raw = Classifier(TEMPLATE, llm, ["positive", "negative"], calibrate=False)(text="so-so")
    clf = Classifier(TEMPLATE, llm, ["positive", "negative"])  # calibrated by default
    cal = clf(text="so-so")
    priors = [softmax([table[t]["positive"], -1.8]) for t in CONTENT_FREE_INPUTS]
    prior = [sum(p[i] for p in priors) / 3 for i in range(2)]
    p = softmax([-0.6, -0.9])
    w = [p[0] / prior[0], p[1] / prior[1]]
    assert raw.label == "positive" and cal.label == "negative" and cal.calibrated
    assert cal.probabilities["negative"] == pytest.approx(w[1] / sum(w))
    assert clf.prior() == pytest.approx(prior)
    n = len(llm.scored)
    clf(text="so-so")
    assert len(llm.scored) == n + 1  # the prior is cached: one more scoring, for the input only


def test_calibration_with_fewshot_uses_the_same_examples_for_the_prior():
    table = {t: {"positive": -1.0, "negative": -1.0} for t in CONTENT_FREE_INPUTS + ("nice",)}
    llm = ScoringFake(table)
    shots = FewShot(TEMPLATE, POOL, k=2, selector="balanced", output="{label}")
    Classifier(shots, llm, ["positive", "negative"], calibrate=["N/A"])(text="nice")
    (input_msgs, _, _), (prior_msgs, _, _) = llm.scored[0], llm.scored[1]
    assert [m.content for m in input_msgs[:-1]] == [m.content for m in prior_msgs[:-1]]  # same system + shots
    assert prior_msgs[-1].content == "Review: N/A\nSentiment:"
    assert sum(m.role == "assistant" for m in input_msgs) == 2


def test_auto_format_falls_back_to_the_chat_template_where_text_cannot_be_scored():
    class ChatOnly(ScoringFake):  # like a chat server with logprobs: no plain-text prompts
        def score_continuations(self, messages, continuations, **options):
            if not options.get("chat_template", True):
                raise ScoringUnavailableError("no plain-text prompts here")
            return super().score_continuations(messages, continuations, **options)

    table = {t: {"positive": -1.0, "negative": -1.0} for t in CONTENT_FREE_INPUTS}
    table["Loved it"] = {"positive": -0.2, "negative": -3.0}
    llm = ChatOnly(table)
    clf = Classifier(TEMPLATE, llm, ["positive", "negative"])
    assert clf.scored_format == "text"
    assert clf(text="Loved it").label == "positive" and clf.scored_format == "chat"
    assert all(options == {"chat_template": True} for _, _, options in llm.scored)
    with pytest.raises(ScoringUnavailableError):
        Classifier(TEMPLATE, llm, ["positive", "negative"], prompt_format="text", fallback=False)(text="Loved it")


def test_render_text_shows_the_transcript_and_the_labels_after_it():
    shots = FewShot(TEMPLATE, POOL, k=2, selector="balanced", output="{label}")
    text = Classifier(shots, FakeLLM([]), ["positive", "negative"]).render_text(text="Loved it")
    assert text.startswith("Classify the sentiment. Answer positive or negative.\n\nReview: ")
    assert "\nSentiment: positive\n\n" in text and "\nSentiment: negative\n\n" in text
    assert text.endswith("Review: Loved it\nSentiment: {positive | negative}")
    chat = Classifier(TEMPLATE, FakeLLM([]), ["positive", "negative"], prompt_format="chat").render_text(text="Loved it")
    assert chat.endswith("[assistant]\npositive | negative")


def test_fallback_generates_the_label_under_a_constraint_with_a_note():
    llm = FakeLLM([{"label": "negative"}, "no idea"])
    clf = Classifier(TEMPLATE, llm, ["positive", "negative"])
    with pytest.warns(UserWarning, match="generated under a JSON-schema constraint"):
        r = clf(text="Dull.")
    assert (r.label, r.method, r.confidence) == ("negative", "generated", None)
    assert r.probabilities == {"positive": 0.0, "negative": 1.0} and "FakeLLM" in r.note
    schema = llm.calls[0].options.response_format
    assert schema["properties"]["label"]["enum"] == ["positive", "negative"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per classifier
        r2 = clf(text="Fine.")
    assert r2.label is None and not r2.ok


def test_fallback_can_be_refused():
    with pytest.raises(ScoringUnavailableError):
        Classifier(TEMPLATE, FakeLLM([]), ["positive", "negative"], fallback=False)(text="x")


@pytest.mark.parametrize("kwargs, match", [
    ({"labels": ["only"]}, "at least two labels"),
    ({"labels": "positive"}, "list of labels"),
    ({"labels": {"a": "same", "b": "same"}}, "own non-empty text"),
    ({"labels": ["a", "b"], "normalize": "max"}, "normalize"),
    ({"labels": ["a", "b"], "calibrate": "N/A"}, "calibrate"),
    ({"labels": ["a", "b"], "prompt_format": "raw"}, "prompt_format"),
])
def test_bad_configuration_is_a_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Classifier(TEMPLATE, FakeLLM([]), **kwargs)


def test_balanced_selector_gives_equal_shots_in_seeded_order():
    picks = BalancedSelector(seed=3).select(POOL, {"text": "q"}, 6)
    assert sorted(p["label"] for p in picks) == ["negative"] * 3 + ["positive"] * 3
    assert picks == BalancedSelector(seed=3).select(POOL, {"text": "other"}, 6)  # the same for every query
    orders = {tuple(p["text"] for p in BalancedSelector(seed=s).select(POOL, {}, 6)) for s in range(6)}
    assert len(orders) > 1  # the seed changes the draw and the order
    odd = BalancedSelector(seed=0).select(POOL, {}, 3)
    assert sorted(p["label"] for p in odd).count("positive") in (1, 2)
    with pytest.raises(ConfigError, match="needs 4 examples labelled 'negative'"):
        BalancedSelector().select(POOL, {}, 8)
    with pytest.raises(ConfigError, match="no 'label' field"):
        BalancedSelector().select([{"text": "x"}], {}, 1)


@pytest.mark.real_model
def test_default_model_classifies_by_likelihood(default_llm):
    clf = Classifier(TEMPLATE, default_llm, ["positive", "negative"], calibrate=False)
    r = clf(text="An absolute delight, I loved every minute of it.")
    scores = default_llm.score(TEMPLATE.render(text="An absolute delight, I loved every minute of it."),
                               ["positive", "negative"], chat_template=False)  # the default format: plain text
    assert clf.scored_format == "text"
    assert r.logprobs == {"positive": scores[0].logprob, "negative": scores[1].logprob}
    assert sum(r.probabilities.values()) == pytest.approx(1.0)
    assert r.label == max(r.probabilities, key=r.probabilities.get) and r.method == "likelihood"
    assert r.label == "positive"
    # calibration on the real model: the content-free prior, computed by hand from llm.score, is divided out
    text = "It broke after two days and support ignored me."
    cal = Classifier(TEMPLATE, default_llm, ["positive", "negative"], calibrate=["N/A"])(text=text)
    prior = softmax([s.logprob for s in default_llm.score(TEMPLATE.render(text="N/A"), ["positive", "negative"],
                                                           chat_template=False)])
    raw = softmax([s.logprob for s in default_llm.score(TEMPLATE.render(text=text), ["positive", "negative"],
                                                         chat_template=False)])
    w = [raw[0] / prior[0], raw[1] / prior[1]]
    assert cal.calibrated and cal.probabilities["positive"] == pytest.approx(w[0] / sum(w), abs=1e-6)
    assert cal.label == ("positive" if w[0] > w[1] else "negative")


@pytest.mark.real_model
def test_remote_server_without_logprobs_falls_back_to_constrained_generation(default_llm):
    from augment.llm.openai import OpenAICompatibleLLM
    from augment.serve import make_server

    server = make_server(default_llm, port=0).start()
    try:
        remote = OpenAICompatibleLLM(server.model_name, base_url=server.url, max_retries=0)
        with pytest.warns(UserWarning, match="likelihood scoring is not available"):
            r = Classifier(TEMPLATE, remote, ["positive", "negative"])(text="Terrible quality, do not buy.")
    finally:
        server.stop()
    assert r.method == "generated" and r.label in ("positive", "negative") and "returned no logprobs" in r.note
