"""Likelihood scoring: llm.score(prompt, continuations) on local models (tiny and real) and remote servers."""

from __future__ import annotations

import math

import pytest
from scripted_server import ScriptedServer, chat_body, json_reply
from tiny_models import make_lora, smol_tokenizer_dir, tiny_llama, tiny_llama_dir  # noqa: F401 (fixtures)

from augment.errors import ConfigError, ContextLengthError, ScoringUnavailableError
from augment.llm.fake import FakeLLM
from augment.llm.loader import load_llm
from augment.llm.openai import OpenAICompatibleLLM

SENTIMENT = [
    {"role": "system", "content": "You classify the sentiment of reviews. Answer with one word: positive or negative."},
    {"role": "user", "content": "Review: I loved every minute of it.\nSentiment:"},
]


def manual_logprobs(llm, messages, continuation):
    """The reference: one separate forward pass over prompt + continuation, log-softmax, pick each token."""
    import torch

    prompt_ids = llm.tokenizer(llm.render_prompt(messages), add_special_tokens=not llm.has_chat_template)["input_ids"]
    cont_ids = llm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    # the base weights, as score() uses without adapter=: an earlier request may have left an adapter set
    with llm._lock, llm._adapter_scope(None), torch.inference_mode():
        logits = llm.model(torch.tensor([prompt_ids + cont_ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return [float(logprobs[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(cont_ids)]


def torch_float32():
    import torch

    return torch.float32


def check_against_manual(llm, messages, continuations):
    scores = llm.score(messages, continuations)
    assert [s.text for s in scores] == continuations
    # one packed forward pass vs one pass per continuation: equal up to summation order, which is
    # 1e-6 in float32 but a few hundredths of a nat in bfloat16 (what dtype="auto" picks on AMX CPUs)
    tol = 1e-4 if llm.model.dtype == torch_float32() else 0.15
    for s in scores:
        expected = manual_logprobs(llm, messages, s.text)
        assert s.n_tokens == len(expected) == len(s.token_logprobs) and s.exact
        assert s.token_logprobs == pytest.approx(expected, abs=tol)
        assert s.logprob == pytest.approx(math.fsum(expected), abs=tol * len(expected))
        assert s.mean_logprob == pytest.approx(s.logprob / s.n_tokens)
    return scores


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_llm(str(tiny_llama_dir), dtype="float32")


def test_tiny_model_scores_equal_separate_forward_passes(tiny):
    conts = ["positive", "negative", "mixed, leaning positive", "A"]
    scores = check_against_manual(tiny, SENTIMENT, conts)
    assert scores[2].n_tokens > 1  # a multi-token label
    assert len({round(s.logprob, 6) for s in scores}) == len(conts)


def test_plain_text_format_scores_the_label_after_the_transcript(tiny):
    import torch

    from augment.llm.scoring import reply_separator, text_prompt
    from augment.types import Message

    messages = [Message.system("Classify."), Message.user("Review: great\nSentiment:"), Message.assistant("positive"),
                Message.user("Review: dull\nSentiment:")]
    text = text_prompt(messages)
    assert text == "Classify.\n\nReview: great\nSentiment: positive\n\nReview: dull\nSentiment:"
    assert (reply_separator(text), reply_separator("Q?"), reply_separator("A:\n")) == (" ", "\n", "")
    scores = tiny.score(messages, ["negative", "positive"], chat_template=False)
    prompt_ids = tiny.tokenizer(text)["input_ids"]
    for s in scores:
        cont = tiny.tokenizer(" " + s.text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logprobs = torch.log_softmax(tiny.model(torch.tensor([prompt_ids + cont])).logits[0].float(), -1)
        expected = [float(logprobs[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(cont)]
        assert s.token_logprobs == pytest.approx(expected, abs=1e-4) and s.n_tokens == len(cont)
    chat = tiny.score(messages, ["negative", "positive"])
    assert [s.logprob for s in chat] != pytest.approx([s.logprob for s in scores], abs=1e-3)


def test_score_uses_the_requested_adapter(tiny_llama_dir, tmp_path):
    llm = load_llm(str(tiny_llama_dir), dtype="float32")
    base = [s.logprob for s in llm.score("Hello", ["yes", "no"])]
    llm.load_adapter(make_lora(tiny_llama(llm.tokenizer), tmp_path / "lora", seed=3), name="a", activate=False)
    assert [s.logprob for s in llm.score("Hello", ["yes", "no"])] == pytest.approx(base, abs=1e-5)
    with_adapter = [s.logprob for s in llm.score("Hello", ["yes", "no"], adapter="a")]
    assert with_adapter != pytest.approx(base, abs=1e-3)


def test_bad_continuations_and_options_are_config_errors(tiny):
    for bad, match in [([], "empty"), ("positive", "list of strings"), (["a", "a"], "duplicates"),
                       (["ok", ""], "non-empty"), (["ok", 3], "non-empty")]:
        with pytest.raises(ConfigError, match=match):
            tiny.score("Review: fine.", bad)
    with pytest.raises(ConfigError, match="adapter"):
        tiny.score("Review: fine.", ["a", "b"], temperature=0.5)
    with pytest.raises(ConfigError, match="chat_template"):
        tiny.score("Review: fine.", ["a", "b"], chat_template="no")


def test_prompt_that_does_not_fit_raises_context_length_error(tiny):
    with pytest.raises(ContextLengthError, match="context window"):
        tiny.score("word " * 400, ["yes", "no"])


def test_model_without_scoring_raises_scoring_unavailable():
    with pytest.raises(ScoringUnavailableError, match="generate the answer instead"):
        FakeLLM(["x"]).score("Hi", ["a", "b"])


@pytest.mark.real_model
def test_default_model_scores_equal_separate_forward_passes(default_llm):
    scores = check_against_manual(default_llm, SENTIMENT, ["positive", "negative", "very positive indeed"])
    assert scores[0].logprob > scores[1].logprob  # the model prefers 'positive' for a clearly positive review


# ---- OpenAI-compatible servers ------------------------------------------------
@pytest.fixture
def server():
    s = ScriptedServer().start()
    yield s
    s.stop()


def logprob_body(top: dict[str, float]) -> dict:
    body = chat_body("pos")
    first = max(top, key=top.get)
    body["choices"][0]["logprobs"] = {"content": [{"token": first, "logprob": top[first], "top_logprobs": [
        {"token": t, "logprob": lp} for t, lp in top.items()]}]}
    return body


def test_remote_scores_come_from_top_logprobs(server):
    server.enqueue(json_reply(logprob_body({"pos": -0.2, "neg": -1.9, "Pos": -3.0, "!": -5.0})))
    llm = OpenAICompatibleLLM("m", base_url=server.url, max_retries=0)
    scores = llm.score(SENTIMENT, ["positive", "negative"])
    assert [(s.text, s.logprob, s.n_tokens, s.exact) for s in scores] == [("positive", -0.2, 1, False),
                                                                          ("negative", -1.9, 1, False)]
    body = server.requests[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert body["messages"][1]["content"] == SENTIMENT[1]["content"]


def test_remote_whole_label_token_is_exact(server):
    server.enqueue(json_reply(logprob_body({"yes": -0.1, " no": -2.5})))
    llm = OpenAICompatibleLLM("m", base_url=server.url, max_retries=0)
    assert [s.exact for s in llm.score("Is it?", ["yes", "no"])] == [True, True]


@pytest.mark.parametrize("body, match", [
    (chat_body("positive"), "returned no logprobs"),
    (logprob_body({"pos": -0.2, "x": -3.0}), "not among the server's top 20"),
    (logprob_body({"p": -0.2, "n": -3.0, "po": -4.0}), "begin with the same token"),
])
def test_remote_without_usable_logprobs_raises_scoring_unavailable(server, body, match):
    server.enqueue(json_reply(body))
    llm = OpenAICompatibleLLM("m", base_url=server.url, max_retries=0)
    conts = ["pos", "pop"] if "same token" in match else ["positive", "negative"]
    with pytest.raises(ScoringUnavailableError, match=match):
        llm.score("Review: fine.", conts)


def test_remote_server_refusing_logprobs_raises_scoring_unavailable(server):
    server.enqueue(json_reply({"error": {"message": "logprobs is not supported"}}, 400))
    llm = OpenAICompatibleLLM("m", base_url=server.url, max_retries=0)
    with pytest.raises(ScoringUnavailableError, match="refused a request for logprobs"):
        llm.score("Review: fine.", ["positive", "negative"])


def test_remote_plain_text_format_is_unavailable_without_a_request(server):
    llm = OpenAICompatibleLLM("m", base_url=server.url, max_retries=0)
    with pytest.raises(ScoringUnavailableError, match="chat_template=True"):
        llm.score("Review: fine.", ["positive", "negative"], chat_template=False)
    assert server.requests == []  # refused before any request
