"""Trainer: resume after an interruption, early stopping, gradient accumulation; finetune() end to end."""

from __future__ import annotations

import json

import pytest
import torch

from augment.errors import AdapterError, ConfigError, DataError
from augment.finetune import (
    TrainConfig, apply_method, collate, finetune, format_task, load_finetuned, train,
)
from tests.finetune.conftest import cls_records, instruct_records, ner_records, tiny_bert, tiny_llama


def _setup(tokenizer, method="lora"):
    model, _ = apply_method(tiny_llama(tokenizer), method)
    feats = format_task("instruct", instruct_records(), tokenizer, max_length=64).features
    return model, feats


def _weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_resume_after_interruption_matches_uninterrupted_run(tokenizer, tmp_path):
    cfg = dict(max_steps=6, batch_size=4, grad_accum=2, lr=1e-2, progress=False, scheduler="cosine", warmup_ratio=0.2)
    model, feats = _setup(tokenizer)
    full = train(model, feats, config=TrainConfig(**cfg), collate_fn=collate)
    expected = _weights(model)

    def interrupt(info):
        if info["step"] == 4:
            raise KeyboardInterrupt

    model, feats = _setup(tokenizer)
    with pytest.raises(KeyboardInterrupt):
        train(model, feats, config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path)), collate_fn=collate, callbacks=[interrupt])
    assert (tmp_path / "checkpoint" / "state.json").exists()

    model, feats = _setup(tokenizer)  # a fresh process would rebuild the model like this
    resumed = train(model, feats, config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path)), collate_fn=collate)
    assert resumed.resumed_from_step == 4 and resumed.steps == 6
    assert resumed.losses[:4] == pytest.approx(full.losses[:4]) and resumed.losses == pytest.approx(full.losses)
    got = _weights(model)
    assert all(torch.allclose(got[n], expected[n], atol=1e-6) for n in expected)
    assert not (tmp_path / "checkpoint").exists()  # removed once training completed


def test_resume_refuses_a_checkpoint_made_with_other_settings(tokenizer, tmp_path):
    model, feats = _setup(tokenizer)
    stop = lambda info: (_ for _ in ()).throw(KeyboardInterrupt)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        train(model, feats, config=TrainConfig(max_steps=4, batch_size=4, progress=False, checkpoint_dir=str(tmp_path)),
              collate_fn=collate, callbacks=[stop])
    with pytest.raises(ConfigError, match="other settings"):
        train(model, feats, config=TrainConfig(max_steps=4, batch_size=2, progress=False, checkpoint_dir=str(tmp_path)),
              collate_fn=collate)


def test_eval_each_epoch_and_early_stopping(tokenizer):
    model, feats = _setup(tokenizer, "full")
    # an eval set the model cannot fit: training on it makes eval loss worse -> stop after `patience` epochs
    bad_eval = format_task("instruct", [{"instruction": r["instruction"], "output": "zzz qqq"} for r in instruct_records(8)],
                           tokenizer, max_length=64).features
    res = train(model, feats, eval_features=bad_eval, collate_fn=collate,
                config=TrainConfig(epochs=30, batch_size=8, lr=1e-2, early_stopping_patience=2, progress=False),
                eval_fn=lambda m: {"probe": 1.0})
    assert res.stopped_early and len(res.history) < 30
    assert all("eval_loss" in h and h["probe"] == 1.0 for h in res.history)
    assert res.best_eval_loss == min(h["eval_loss"] for h in res.history)
    model.eval()
    with torch.no_grad():  # the best epoch's weights were restored
        now = sum(float(model(**collate([f])).loss) for f in bad_eval) / len(bad_eval)
    assert now == pytest.approx(res.best_eval_loss, rel=1e-4)


def test_trainer_errors(tokenizer):
    model, feats = _setup(tokenizer)
    with pytest.raises(DataError, match="empty"):
        train(model, [], collate_fn=collate)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)
    frozen = tiny_llama(tokenizer).requires_grad_(False)
    with pytest.raises(ConfigError, match="no parameter"):
        train(frozen, feats, collate_fn=collate, config=TrainConfig(progress=False))


def test_finetune_saves_and_reloads_each_kind(tokenizer, tmp_path):
    base = tiny_llama(tokenizer)
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    for method in ("lora", "adapter", "bitfit"):
        model = tiny_llama(tokenizer)
        model.load_state_dict(base_state)
        res = finetune((model, tokenizer), instruct_records(), task="instruct", method=method, out=tmp_path / method,
                       max_steps=4, batch_size=8, lr=1e-2, progress=False, test_size=0.25)
        info = json.loads((tmp_path / method / "augment_finetune.json").read_text())
        assert info["method"] == method and info["trainable"] == res.method.trainable
        assert "eval_loss" in info["metrics"] and info["data"]["sizes"] == {"train": 18, "test": 6}
        fresh = tiny_llama(tokenizer)
        fresh.load_state_dict(base_state)
        reloaded, _ = load_finetuned(tmp_path / method, base=(fresh, tokenizer))
        x = torch.tensor([[5, 6, 7, 8]])
        res.model.eval()
        assert torch.allclose(reloaded(x).logits, res.model(x).logits, atol=1e-5), method
        other = tiny_llama(tokenizer, hidden=48)
        with pytest.raises(AdapterError, match="trained on base model"):
            load_finetuned(tmp_path / method, base=(other, tokenizer))
        same_shape_other_weights = tiny_llama(tokenizer, seed=1)
        with pytest.raises(AdapterError, match="embedding weights differ"):
            load_finetuned(tmp_path / method, base=(same_shape_other_weights, tokenizer))


def test_finetune_classification_and_ner_end_to_end(tokenizer, tmp_path):
    res = finetune((tiny_bert(tokenizer), tokenizer), cls_records(30), task="classify", method="full", lr=3e-3,
                   epochs=3, batch_size=8, test_size=0.2, progress=False, out=tmp_path / "cls")
    assert res.labels == ["neg", "pos"] and res.summary.label_balance["test"] == {"neg": 3, "pos": 3}
    assert res.train.history[-1]["eval_loss"] < res.train.history[0]["eval_loss"] + 1e-6
    model, _ = load_finetuned(tmp_path / "cls", base=None)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    labels = ["B-LOC", "B-PER", "O"]
    res = finetune((tiny_bert(tokenizer, "token_classify", labels), tokenizer), ner_records(), task="token_classify",
                   method="lora", max_steps=3, test_size=0.25, progress=False)
    assert res.labels == labels


def test_finetune_data_errors(tokenizer):
    pair = lambda: (tiny_bert(tokenizer), tokenizer)  # noqa: E731
    with pytest.raises(DataError, match="empty"):
        finetune(pair(), [], task="classify")
    with pytest.raises(DataError, match="needs a column 'label'"):
        finetune(pair(), [{"text": "a"}] * 4, task="classify")
    with pytest.raises(DataError, match="not in the label set"):
        finetune(pair(), cls_records(10), task="classify", labels=["pos"], test_size=0)
    with pytest.raises(DataError, match="class 'rare' has only 1 example"):
        finetune(pair(), cls_records(10) + [{"text": "odd", "label": "rare"}], task="classify")
    with pytest.raises(DataError, match="not in the label set"):
        finetune(pair(), cls_records(10), eval_data=[{"text": "x", "label": "other"}], task="classify")
    with pytest.raises(ConfigError, match="unknown task"):
        finetune(pair(), cls_records(10), task="classification")


def test_default_encoder_is_the_embedded_minilm(tmp_path):
    """task='classify' with model=None fine-tunes the real all-MiniLM-L6-v2 (LoRA on query/value + the head)."""
    res = finetune(None, cls_records(20), task="classify", method="lora", max_steps=2, batch_size=8, lr=1e-3,
                   test_size=0.2, progress=False)
    assert res.method.total > 20_000_000 and res.method.share < 0.05
    assert any("query" in n for n in res.method.notes[0].split("'"))
    assert res.model.config.id2label == {0: "neg", 1: "pos"}
