"""Metrics against hand-computed values (and seqeval / rouge-score directly)."""

from __future__ import annotations

import math

import pytest

from augment.errors import ConfigError, DataError
from augment.eval import (
    accuracy,
    compute_metrics,
    entity_f1,
    exact_match,
    normalize_answer,
    perplexity,
    precision_recall_f1,
    rouge,
    token_f1,
)

PRED = ["pos", "neg", "pos", "neu", "pos"]
REF = ["pos", "pos", "neg", "neu", "pos"]


def test_accuracy_and_prf_hand_computed():
    assert accuracy(PRED, REF) == pytest.approx(3 / 5)
    assert accuracy([" POS "], ["pos"]) == 1.0
    s = precision_recall_f1(PRED, REF)
    # pos: P=R=F=2/3; neg: 0; neu: 1  -> macro 5/9; micro: 3 of 5 -> 0.6
    assert s["precision_macro"] == pytest.approx(5 / 9)
    assert s["recall_macro"] == pytest.approx(5 / 9)
    assert s["f1_macro"] == pytest.approx(5 / 9)
    assert s["precision_micro"] == s["recall_micro"] == s["f1_micro"] == pytest.approx(0.6)
    # an unbalanced case: pos P=1/2 R=1 F=2/3, neg P=0 (never predicted) R=0 -> macro F 1/3
    s2 = precision_recall_f1(["pos", "pos"], ["pos", "neg"])
    assert s2["f1_macro"] == pytest.approx(1 / 3) and s2["precision_macro"] == pytest.approx(0.25)


def test_entity_f1_hand_computed_and_matches_seqeval():
    ref = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O"]]
    s = entity_f1(pred, ref)  # 3 true entities, 2 predicted, 1 right
    assert s["entity_precision"] == pytest.approx(0.5)
    assert s["entity_recall"] == pytest.approx(1 / 3)
    assert s["entity_f1"] == pytest.approx(0.4)
    from seqeval.metrics import f1_score

    assert s["entity_f1"] == pytest.approx(f1_score(ref, pred))
    with pytest.raises(DataError, match="one tag per token"):
        entity_f1([["O"]], [["O", "O"]])
    with pytest.raises(DataError, match="tag lists"):
        entity_f1(["B-PER"], ["B-PER"])


def test_squad_exact_match_and_token_f1():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match(["The Eiffel Tower!", "Paris", "Rome"], ["eiffel tower", ["London", "paris"], "Milan"]) == pytest.approx(2 / 3)
    # "in Paris France" vs "Paris": P=1/3 R=1 F=0.5 ; "the big red dog" vs "a red dog": P=2/3 R=1 F=0.8
    assert token_f1(["in Paris France", "the big red dog"], ["Paris", "a red dog"]) == pytest.approx(0.65)
    assert token_f1([""], [""]) == 1.0 and token_f1(["x"], [""]) == 0.0


def test_rouge_hand_computed_and_matches_rouge_score():
    s = rouge(["the cat sat on the mat"], ["the cat is on the mat"])
    assert s["rouge1"] == pytest.approx(5 / 6)
    assert s["rouge2"] == pytest.approx(3 / 5)
    assert s["rougeL"] == pytest.approx(5 / 6)
    from rouge_score import rouge_scorer

    direct = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score("the cat is on the mat", "the cat sat on the mat")
    assert s["rougeL"] == pytest.approx(direct["rougeL"].fmeasure)


def test_metric_input_errors():
    with pytest.raises(DataError, match="2 predictions but 1 references"):
        accuracy(["a", "b"], ["a"])
    with pytest.raises(DataError, match="empty"):
        accuracy([], [])
    with pytest.raises(ConfigError, match="unknown metric 'bleu'"):
        compute_metrics(["bleu"], ["a"], ["a"])
    with pytest.raises(ConfigError, match="TransformersLLM"):
        perplexity(object(), ["text"])


def test_compute_metrics_flat_dict():
    out = compute_metrics(["accuracy", "f1", "precision", "exact_match"], PRED, REF)
    assert set(out) == {"accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_micro", "recall_micro",
                        "f1_micro", "exact_match"}


@pytest.mark.real_model
def test_perplexity_of_real_model_equals_exp_of_model_loss(default_llm):
    import torch

    texts = ["The cat sat on the mat.", "Paris is the capital of France and a large city."]
    ppl = perplexity(default_llm, texts)
    tok, model = default_llm.tokenizer, default_llm.model
    nll, n = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok(t, add_special_tokens=False)["input_ids"]])
            loss = model(input_ids=ids, labels=ids).loss.float().item()
            nll += loss * (ids.shape[1] - 1)
            n += ids.shape[1] - 1
    assert ppl == pytest.approx(math.exp(nll / n), rel=2e-2)
    assert 1 < ppl < perplexity(default_llm, ["zq xv wk jj qp lz vv kx"])  # gibberish is less likely
    # conditional: only the answer tokens after the chat-templated prompt are scored
    prompt, answer = "What is the capital of France?", "Paris"
    ctx = tok(default_llm.render_prompt(prompt), add_special_tokens=False)["input_ids"]
    ans = tok(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ctx + ans])).logits.float()
    logp = torch.log_softmax(logits[0, len(ctx) - 1:-1], dim=-1)
    expected = math.exp(-float(logp.gather(-1, torch.tensor(ans).unsqueeze(-1)).mean()))
    cond = perplexity(default_llm, [answer], prompts=[prompt])
    assert cond == pytest.approx(expected, rel=2e-2)
    assert cond < perplexity(default_llm, ["Banana"], prompts=[prompt])  # the right answer is more likely
