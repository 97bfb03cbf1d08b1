"""Tiny models built from a config (random weights) with the real SmolLM2 tokenizer, for adapter and seq2seq tests.

Imported by the test modules (not a conftest, so nothing here is shared by accident)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smol_tokenizer_dir():
    """Folder of the converted default model (holds the SmolLM2 tokenizer files)."""
    from augment.llm.defaults import cached_gguf_conversion, default_gguf_path

    return cached_gguf_conversion(default_gguf_path())


def tiny_llama(tokenizer, hidden: int = 32, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, smol_tokenizer_dir):
    """A saved tiny Llama (hidden 32) with the SmolLM2 tokenizer and chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smol_tokenizer_dir))
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(tok).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def snap_to_grid(weight):
    """Q4_1 as GGUF makes it: per group of 32 in a row, 16 levels from the group's min to its max."""
    from augment.llm.packed import GROUP

    rows, cols = weight.shape
    w = weight.reshape(rows, cols // GROUP, GROUP)
    lo, hi = w.amin(-1, keepdim=True), w.amax(-1, keepdim=True)
    step = (hi - lo) / 15
    return (((w - lo) / step).round() * step + lo).reshape(rows, cols)


@pytest.fixture(scope="session")
def grid_llama_dir(smol_tokenizer_dir, tmp_path_factory):
    """A saved tiny Llama (hidden 64) whose layer weights are snapped to a Q4_1 grid, as the shipped GGUF's."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smol_tokenizer_dir))
    model = tiny_llama(tok, hidden=64)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and ".layers." in name:
                module.weight.copy_(snap_to_grid(module.weight))
    folder = tmp_path_factory.mktemp("grid-llama")
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def make_lora(model, folder, seed: int, targets=("q_proj", "v_proj")):
    """Save a LoRA adapter with random (non-zero) weights for ``model`` into ``folder``."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=list(targets),
                                                  init_lora_weights=False))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(str(folder))
    return folder
