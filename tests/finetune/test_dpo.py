"""DPO raises the chosen-vs-rejected margin; FeedbackLog turns ratings into pairs."""

from __future__ import annotations

import json

import pytest

from augment.errors import DataError
from augment.feedback import FeedbackLog, PreferencePair
from augment.finetune import load_finetuned, preference_margin, train_dpo
from tests.finetune.conftest import tiny_llama


def test_feedback_log_records_and_pairs(tmp_path):
    log = FeedbackLog(tmp_path / "fb" / "log.jsonl")
    log.record("capital of france?", "lyon", rating=-1, preferred="paris", user="ann")
    log.record("2+2?", "4", rating=1)
    log.record("2+2?", "5", rating=-1)
    log.record("2+2?", "four", rating=1, preferred="4")
    log.record("hi", "hello", rating=1)  # no counterpart: no pair
    lines = (tmp_path / "fb" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["meta"] == {"user": "ann"}
    pairs = log.preference_pairs()
    assert PreferencePair("capital of france?", "paris", "lyon") in pairs
    assert PreferencePair("2+2?", "4", "5") in pairs and PreferencePair("2+2?", "four", "5") in pairs
    assert PreferencePair("2+2?", "4", "four") in pairs
    assert len(pairs) == 4 and not any(p.prompt == "hi" for p in pairs)


def test_feedback_log_rejects_bad_input(tmp_path):
    log = FeedbackLog(tmp_path / "log.jsonl")
    with pytest.raises(DataError, match=r"\+1"):
        log.record("q", "a", rating=5)
    with pytest.raises(DataError, match="non-empty prompt"):
        log.record(" ", "a", rating=1)
    with pytest.raises(DataError, match="JSON"):
        log.record("q", "a", rating=1, obj=object())
    assert not (tmp_path / "log.jsonl").exists() or len(log) == 0
    (tmp_path / "log.jsonl").write_text('{"prompt": "q"}\n')
    with pytest.raises(DataError, match="log.jsonl:1"):
        log.records()


PAIRS = [{"prompt": f"question {i}: is it safe?", "chosen": "yes it is safe", "rejected": "no idea sorry"} for i in range(8)]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_dpo_raises_the_margin(method, tokenizer, tmp_path):
    model = tiny_llama(tokenizer)
    before = preference_margin(model, tokenizer, PAIRS)
    res = train_dpo((model, tokenizer), PAIRS, method=method, beta=0.5, max_steps=10, batch_size=4,
                    lr=1e-2 if method == "lora" else 3e-3, progress=False, out=tmp_path / method)
    assert res.margin_before == pytest.approx(before, abs=1e-4)
    assert res.margin_after > res.margin_before + 1.0
    assert res.reward_accuracy == 1.0
    assert res.train.losses[-1] < res.train.losses[0]
    info = json.loads((tmp_path / method / "augment_finetune.json").read_text())
    assert info["train"]["objective"] == "dpo" and info["metrics"]["margin_after"] == pytest.approx(res.margin_after)


def test_dpo_reads_a_feedback_log(tokenizer, tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl")
    for i in range(4):
        log.record(f"summarise doc {i}", "it is a long and winding story about things", rating=-1, preferred="short story")
    base = tiny_llama(tokenizer)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    res = train_dpo((base, tokenizer), tmp_path / "fb.jsonl", method="adapter", max_steps=6, batch_size=4, lr=1e-2,
                    progress=False, out=tmp_path / "out")
    assert res.margin_after > res.margin_before
    fresh = tiny_llama(tokenizer)
    fresh.load_state_dict(state)
    reloaded, _ = load_finetuned(tmp_path / "out", base=(fresh, tokenizer))
    assert preference_margin(reloaded, tokenizer, log) == pytest.approx(res.margin_after, abs=1e-3)
    with pytest.raises(DataError, match="no preference pairs"):
        train_dpo((tiny_llama(tokenizer), tokenizer), FeedbackLog(tmp_path / "empty.jsonl"))


def test_dpo_with_trl_backend(tokenizer):
    model = tiny_llama(tokenizer)
    res = train_dpo((model, tokenizer), PAIRS, method="lora", beta=0.5, max_steps=6, batch_size=4, lr=1e-2,
                    progress=False, backend="trl")
    assert res.train.steps == 6 and len(res.train.losses) == 6
    assert res.margin_after > res.margin_before + 0.5 and res.reward_accuracy == 1.0
