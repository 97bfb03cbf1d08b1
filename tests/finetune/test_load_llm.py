"""Outputs load through the LLM wrapper: load_llm(base, adapter=out), switching, merge, other base -> AdapterError."""

from __future__ import annotations

import pytest
import torch

from augment.errors import AdapterError
from augment.finetune import finetune
from augment.llm.loader import load_llm
from tests.finetune.conftest import instruct_records, tiny_llama


@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    base = tiny_llama(tokenizer)
    base.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    other = tiny_llama(tokenizer, hidden=48)
    other.save_pretrained(root / "other")
    tokenizer.save_pretrained(root / "other")
    res = finetune(str(root / "base"), instruct_records(), task="instruct", method="lora", out=root / "lora",
                   max_steps=20, batch_size=8, lr=2e-2, progress=False, test_size=0, gradient_checkpointing=True)
    return root, res


def test_load_llm_with_adapter_reproduces_the_trained_model(trained, tokenizer):
    root, res = trained
    assert res.train.losses[-1] < res.train.losses[0]
    llm = load_llm(str(root / "base"), adapter={"fmt": root / "lora"}, dtype="float32")
    ids = torch.tensor([tokenizer("<user> what color is item 3 [SEP] <assistant>", add_special_tokens=False)["input_ids"]])
    res.model.eval()
    with torch.no_grad():
        assert torch.allclose(llm.model(ids).logits, res.model(ids).logits, atol=1e-5)
    tuned = llm.complete("what color is item 3", max_tokens=6).text
    llm.set_adapter(None)
    plain = llm.complete("what color is item 3", max_tokens=6).text
    assert llm.complete("what color is item 3", max_tokens=6, adapter="fmt").text == tuned
    assert tuned != plain and tuned.startswith("color")


def test_adapter_for_another_base_is_refused(trained):
    root, _ = trained
    with pytest.raises(AdapterError, match="not for this model|trained for"):
        load_llm(str(root / "other"), adapter=root / "lora", dtype="float32")
