"""TransformersLLM on the real embedded default model (SmolLM2-135M-Instruct, loaded once per session)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import warnings

import pytest

from augment.errors import AdapterError, ConfigError, ContextLengthError
from augment.llm.transformers import TransformersLLM
from augment.types import Completion

from tiny_models import smol_tokenizer_dir, tiny_llama_dir  # noqa: F401

pytestmark = pytest.mark.real_model

Q = "What is the capital of France?"


def test_default_model_identity(default_llm):
    assert isinstance(default_llm, TransformersLLM)
    assert default_llm.model_name == "SmolLM2-135M-Instruct"
    assert not default_llm.is_seq2seq and default_llm.context_window == 8192
    assert default_llm.device == "cpu" and default_llm.tokenizer.padding_side == "left"


def test_render_prompt_is_the_exact_chat_template_text(default_llm):
    text = default_llm.render_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    tools = [{"type": "function", "function": {"name": "add", "description": "Add numbers", "parameters": {}}}]
    with_tools = default_llm.render_prompt("Add 2 and 3", tools=tools)
    # SmolLM2's template has no tools support: the specs go into the system message
    assert with_tools.startswith("<|im_start|>system\nTools:\n- add") and "- add: " in with_tools
    assert default_llm.count_tokens("Hello world") == len(default_llm.tokenizer("Hello world")["input_ids"]) > 0


def test_greedy_is_deterministic_with_usage_and_finish_reason(default_llm):
    a = default_llm.complete(Q, max_tokens=6)
    b = default_llm.complete(Q, max_tokens=6)
    assert a.text == b.text and "Paris" in a.text
    assert a.usage.prompt_tokens == default_llm.count_tokens(default_llm.render_prompt(Q))
    assert a.usage.completion_tokens == 6 and a.finish_reason == "length"
    assert a.model == "SmolLM2-135M-Instruct"


def test_natural_end_is_stop(default_llm):
    c = default_llm.complete("Is the sky blue? Answer yes or no.", max_tokens=12)
    assert c.finish_reason == "stop" and c.usage.completion_tokens < 12 and c.text.strip()


def test_seeded_sampling_is_reproducible(default_llm):
    one = default_llm.complete("Write a word.", temperature=1.2, seed=11, max_tokens=6)
    two = default_llm.complete("Write a word.", temperature=1.2, seed=11, max_tokens=6)
    assert one.text == two.text
    others = {default_llm.complete("Write a word.", temperature=1.2, seed=s, max_tokens=6).text for s in (1, 2, 3)}
    assert len(others | {one.text}) > 1  # sampling really samples


def test_stop_string_trims_and_reports_stop(default_llm):
    full = default_llm.complete(Q, max_tokens=8).text
    word = full.split()[3]  # a word in the middle of the greedy answer
    cut = default_llm.complete(Q, max_tokens=8, stop=[word])
    assert cut.text == full[: full.index(word)] and cut.finish_reason == "stop"
    pieces = list(default_llm.stream(Q, max_tokens=8, stop=[word]))
    assert "".join(pieces[:-1]) == cut.text == pieces[-1].text


def test_stream_equals_complete(default_llm):
    items = list(default_llm.stream(Q, max_tokens=8))
    final = items[-1]
    assert isinstance(final, Completion) and all(isinstance(i, str) for i in items[:-1])
    assert len(items) > 3  # really incremental
    assert "".join(items[:-1]) == final.text == default_llm.complete(Q, max_tokens=8).text
    assert final.usage.completion_tokens == 8


def test_stream_consumer_can_stop_early(default_llm):
    stream = default_llm.stream("Count from one to fifty.", max_tokens=40)
    first = next(stream)
    stream.close()  # must not hang, the generate thread is told to stop
    assert isinstance(first, str)
    assert default_llm.complete(Q, max_tokens=2).usage.completion_tokens == 2  # lock released


def test_batch_matches_individual_greedy_results_with_left_padding(default_llm):
    prompts = [Q, "Name a colour.", "Write a very short greeting for a friend who lives far away."]
    enc, _ = default_llm._encode([default_llm.render_prompt(p) for p in prompts], 4)
    mask = enc["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1  # the shorter prompt is padded on the LEFT
    batch = default_llm.batch(prompts, max_tokens=5)
    single = [default_llm.complete(p, max_tokens=5) for p in prompts]
    assert [c.text for c in batch] == [c.text for c in single]
    assert [c.usage.prompt_tokens for c in batch] == [c.usage.prompt_tokens for c in single]


def test_context_overflow_raises_or_truncates_left(default_llm):
    long_prompt = "word " * 9000
    with pytest.raises(ContextLengthError, match="truncation='left'"):
        default_llm.complete(long_prompt, max_tokens=2)
    with pytest.raises(ContextLengthError):
        list(default_llm.stream(long_prompt, max_tokens=2))
    small = TransformersLLM(default_llm.model, default_llm.tokenizer, model_name="small", context_window=64,
                            truncation="left")
    with pytest.warns(UserWarning, match="truncated from the left"):
        c = small.complete("Please remember this. " * 40 + "What is 2+2?", max_tokens=3)
    assert c.usage.prompt_tokens <= 64 - 3
    # prompt fits but max_tokens does not: fewer tokens, finish 'length'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = TransformersLLM(default_llm.model, default_llm.tokenizer, context_window=40).complete("Hi", max_tokens=30)
    assert c.usage.prompt_tokens + c.usage.completion_tokens <= 40
    with pytest.raises(ConfigError):
        TransformersLLM(default_llm.model, default_llm.tokenizer, truncation="middle")


def test_unknown_adapter_is_a_clear_error(default_llm):
    with pytest.raises(AdapterError, match="load_adapter"):
        default_llm.complete("Hi", adapter="nope", max_tokens=2)
    with pytest.raises(AdapterError, match="nothing to merge"):
        default_llm.merge()


def test_tools_and_response_format_delegate_to_constrained(default_llm, monkeypatch):
    seen = {}

    def constrained_generate(llm, conversations, options):
        seen["args"] = (llm, conversations, options)
        return [Completion('{"a": 1}', parsed={"a": 1}) for _ in conversations]

    fake = types.ModuleType("augment.llm.constrained")
    fake.constrained_generate = constrained_generate
    monkeypatch.setitem(sys.modules, "augment.llm.constrained", fake)
    c = default_llm.complete("x", response_format={"type": "object"})
    assert c.parsed == {"a": 1} and seen["args"][0] is default_llm and seen["args"][1][0][0].content == "x"
    items = list(default_llm.stream("y", tools=[{"name": "f"}]))
    assert items[-1].parsed == {"a": 1}
    seen.clear()
    default_llm.complete(Q, tools=[{"name": "f"}], tool_choice="none", max_tokens=2)
    assert seen["args"][2].tool_choice == "none"  # tool_choice none: constrained to the final answer
    seen.clear()
    c = default_llm.complete(Q, max_tokens=2)
    assert not seen and c.usage.completion_tokens == 2  # no tools, no schema: plain generation


async def test_async_twins_on_real_model(default_llm):
    expected = default_llm.complete(Q, max_tokens=4).text
    assert (await default_llm.acomplete(Q, max_tokens=4)).text == expected
    items = [i async for i in default_llm.astream(Q, max_tokens=4)]
    assert "".join(items[:-1]) == expected == items[-1].text
    assert [c.text for c in await default_llm.abatch([Q], max_tokens=4)] == [expected]


def test_dtype_and_device_choice(monkeypatch):
    import torch

    from augment.llm._hf import cpu_has_fast_bf16, resolve_device, resolve_dtype

    assert resolve_dtype("fp32", "cpu") is torch.float32
    assert resolve_dtype(torch.float16, "cpu") is torch.float16
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16
    monkeypatch.delenv("AUGMENT_CPU_DTYPE", raising=False)  # the suite pins float32; here: the CPU's own choice
    assert resolve_dtype(None, "cpu") is (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "bf16")
    assert resolve_dtype("auto", "cpu") is torch.bfloat16
    assert resolve_dtype("float32", "cpu") is torch.float32  # an explicit dtype wins over the variable
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "float32")
    assert resolve_dtype(None, "cpu") is torch.float32
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "half")
    with pytest.raises(ValueError, match="AUGMENT_CPU_DTYPE='half'.*'float32' or 'bfloat16'"):
        resolve_dtype(None, "cpu")
    with pytest.raises(ConfigError, match="dtype"):
        resolve_dtype("int8", "cpu")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("warp-drive")


def test_libraries_are_frozen_out_of_full_collections_but_models_stay_collectable(default_llm, tiny_llama_dir):
    """``freeze_import_heap``: the objects of the imported libraries leave full collections, once per
    process and before the first model is built, so a dropped model is still freed."""
    import gc

    from augment.llm import _hf

    assert _hf._FROZEN and _hf._FROZEN[0] > 100_000  # default_llm's load froze them
    assert _hf.freeze_import_heap() == 0  # once per process
    gc.collect()
    # what a full collection walks: the objects made since (the models, the calls), not the libraries
    assert len(gc.get_objects()) < gc.get_freeze_count() / 2
    # the first model of a fresh process (the one loaded while freezing) is freed once dropped
    script = ("import gc, sys, weakref\n"
              "from augment.llm import _hf\n"
              "from augment.llm.transformers import TransformersLLM\n"
              "llm = TransformersLLM.from_pretrained(sys.argv[1], dtype='float32')\n"
              "llm.complete('Hi', max_tokens=2)\n"
              "ref = weakref.ref(llm.model)\n"
              "del llm\n"
              "gc.collect()\n"
              "print(_hf._FROZEN, ref() is None)\n")
    out = subprocess.run([sys.executable, "-c", script, str(tiny_llama_dir)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    frozen, freed = out.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert frozen != "[]" and freed == "True", out.stdout + out.stderr[-2000:]
