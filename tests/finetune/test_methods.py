"""Each method trains a few steps on a tiny model: only the intended parameters change and the loss falls."""

from __future__ import annotations

import re

import pytest
import torch

from augment.errors import ConfigError
from augment.finetune import TrainConfig, apply_method, collate, format_task, train
from tests.finetune.conftest import (
    cls_records, instruct_records, ner_records, s2s_records, tiny_bert, tiny_llama, tiny_t5,
)

# which parameter names may change, per method (regex on the names of the model being trained)
ALLOWED = {
    "full": r".",
    "lora": r"lora_|modules_to_save",
    "prompt_tuning": r"prompt_encoder|modules_to_save",
    "bitfit": r"\.bias$|^classifier\.",
    "adapter": r"^augment_adapters\.|^classifier\.",
}
LR = {"full": 3e-3, "lora": 1e-2, "prompt_tuning": 3e-1, "bitfit": 3e-2, "adapter": 1e-2}


def build(task, tokenizer):
    if task == "instruct":
        return tiny_llama(tokenizer), instruct_records(), None
    if task == "classify":
        return tiny_bert(tokenizer), cls_records(), ["neg", "pos"]
    if task == "token_classify":
        labels = ["B-LOC", "B-PER", "O"]
        return tiny_bert(tokenizer, "token_classify", labels), ner_records(), labels
    return tiny_t5(tokenizer), s2s_records(), None


def run(model, method, task, tokenizer, records, labels, steps=8, **options):
    model, info = apply_method(model, method, task=task, **options)
    feats = format_task(task, records, tokenizer, labels=labels, max_length=64).features
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss0 = data_loss(model, feats, tokenizer)
    result = train(model, feats, config=TrainConfig(max_steps=steps, batch_size=8, lr=LR[method], progress=False),
                   collate_fn=lambda f: collate(f, tokenizer.pad_token_id))
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    result.data_loss = (loss0, data_loss(model, feats, tokenizer))
    return model, info, result, changed


def data_loss(model, feats, tokenizer):
    """Mean loss over the whole training set in eval mode (deterministic)."""
    model.eval()
    with torch.no_grad():
        loss = float(model(**collate(feats, tokenizer.pad_token_id)).loss)
    model.train()
    return loss


CASES = [(m, "instruct") for m in ALLOWED] + [
    ("lora", "classify"), ("bitfit", "classify"), ("adapter", "classify"), ("prompt_tuning", "classify"),
    ("full", "token_classify"), ("lora", "token_classify"), ("adapter", "token_classify"),
    ("lora", "seq2seq"), ("adapter", "seq2seq"), ("bitfit", "seq2seq"),
]


@pytest.mark.parametrize("method,task", CASES)
def test_only_intended_parameters_change_and_loss_falls(method, task, tokenizer):
    model, records, labels = build(task, tokenizer)
    if task == "seq2seq" and method == "bitfit":
        with pytest.raises(ConfigError, match="no bias|has none"):
            apply_method(model, method, task=task)
        return
    model, info, result, changed = run(model, method, task, tokenizer, records, labels)
    assert changed, "nothing was trained"
    allowed = re.compile(ALLOWED[method])
    assert all(allowed.search(n) for n in changed), sorted(n for n in changed if not allowed.search(n))[:5]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed <= trainable
    before, after = result.data_loss
    assert after < before - 0.01, (before, after)
    assert 0 < info.trainable <= info.total and 0 < info.share <= 1
    if method != "full":
        assert info.share < 0.5


def test_bitfit_adds_biases_to_llama_and_says_so(tokenizer):
    model = tiny_llama(tokenizer)
    assert not any(n.endswith(".bias") for n, _ in model.named_parameters())
    x = torch.tensor([[5, 6, 7]])
    ref = model(x).logits
    model, info = apply_method(model, "bitfit")
    assert any("no bias terms" in n for n in info.notes)
    assert model.config.attention_bias and model.config.mlp_bias
    assert torch.allclose(model(x).logits, ref)  # zero biases: the function is unchanged
    with pytest.raises(ConfigError, match="add_biases=False"):
        apply_method(tiny_llama(tokenizer), "bitfit", add_biases=False)


def test_adapters_are_identity_at_start(tokenizer):
    model = tiny_llama(tokenizer)
    x = torch.tensor([[5, 6, 7, 8]])
    ref = model(x).logits
    model, info = apply_method(model, "adapter", bottleneck=8)
    assert len(model.augment_adapters) == 4
    assert torch.allclose(model(x).logits, ref)


def test_lora_defaults_per_architecture(tokenizer):
    _, info = apply_method(tiny_llama(tokenizer), "lora")
    assert "q_proj" in info.notes[0] and "o_proj" in info.notes[0]
    bert, info = apply_method(tiny_bert(tokenizer), "lora", task="classify", r=4)
    names = {n for n, _ in bert.named_parameters() if "lora_A" in n}
    assert names and all(".query." in n or ".value." in n for n in names)
    t5, _ = apply_method(tiny_t5(tokenizer), "lora", task="seq2seq")
    assert any(".q.lora_A" in n for n, _ in t5.named_parameters())


def test_bad_method_and_options(tokenizer):
    with pytest.raises(ConfigError, match="unknown method"):
        apply_method(tiny_llama(tokenizer), "qlora")
    with pytest.raises(ConfigError, match="no option"):
        apply_method(tiny_llama(tokenizer), "lora", rank=4)
    with pytest.raises(ConfigError, match="no default adapter placement"):
        model = tiny_llama(tokenizer)
        model.config.model_type = "mystery"
        apply_method(model, "adapter")
