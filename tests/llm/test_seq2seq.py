"""Seq2seq (T5 style) through TransformersLLM: a tiny T5 built from a config, tokenizer without chat template."""

from __future__ import annotations

import pytest
from tiny_models import smol_tokenizer_dir  # noqa: F401 (fixture)

from augment.llm.loader import load_llm
from augment.types import Completion


@pytest.fixture(scope="module")
def t5(tmp_path_factory, smol_tokenizer_dir):
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(str(smol_tokenizer_dir))
    tok.chat_template = None  # like most T5 tokenizers: the plain fallback format is used
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_decoder_layers=2,
                   num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return load_llm(str(folder), dtype="float32", context_window=32)


def test_seq2seq_is_detected_and_uses_the_plain_format(t5):
    assert t5.is_seq2seq and t5.context_window == 32 and not t5.has_chat_template
    assert t5.render_prompt("translate English to German: hello") == "translate English to German: hello"
    assert t5.render_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]) == (
        "System: Be brief.\n\nUser: Hi\n\nAssistant:"
    )


def test_seq2seq_complete_stream_batch_agree(t5):
    prompts = ["summarize: the cat sat on the mat", "translate: good morning to you all"]
    single = [t5.complete(p, max_tokens=5) for p in prompts]
    for c in single:
        assert c.usage.completion_tokens <= 5 and c.usage.prompt_tokens > 0
        assert c.finish_reason in ("stop", "length")
    assert any(c.text.strip() for c in single)  # the random tiny T5 does produce text
    assert [c.text for c in t5.batch(prompts, max_tokens=5)] == [c.text for c in single]
    items = list(t5.stream(prompts[0], max_tokens=5))
    assert isinstance(items[-1], Completion) and "".join(items[:-1]) == items[-1].text == single[0].text


def test_seq2seq_encoder_overflow(t5):
    from augment.errors import ContextLengthError

    with pytest.raises(ContextLengthError, match="32"):
        t5.complete("word " * 100, max_tokens=2)
