"""The README's LLM features on both local backends (transformers and llama.cpp), one parametrized suite.

Both run the real embedded default model (SmolLM2-135M-Instruct); each is loaded once per session.
Replies are kept short (a few tokens) so the suite stays quick.
"""

from __future__ import annotations

import json

import pytest

from augment.errors import AdapterError, ConfigError, ContextLengthError
from augment.types import Completion

pytestmark = pytest.mark.real_model

Q = "What is the capital of France?"
ADD = {"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}


@pytest.fixture(scope="session")
def llamacpp_llm():
    """The embedded default GGUF on llama.cpp, loaded once per session."""
    pytest.importorskip("llama_cpp", reason="the llama.cpp backend needs: pip install 'augment[llamacpp]'")
    from augment.llm.loader import load_llm

    return load_llm("llamacpp", n_ctx=2048)


@pytest.fixture(params=["transformers", "llamacpp"])
def llm(request):
    name = "default_llm" if request.param == "transformers" else "llamacpp_llm"
    return request.getfixturevalue(name)


def test_both_backends_render_the_same_prompt(default_llm, llamacpp_llm):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert llamacpp_llm.render_prompt(msgs) == default_llm.render_prompt(msgs)
    assert llamacpp_llm.render_prompt(Q, tools=[ADD]) == default_llm.render_prompt(Q, tools=[ADD])
    assert llamacpp_llm.model_name == default_llm.model_name == "SmolLM2-135M-Instruct"


def test_greedy_answer_usage_and_finish_reason(llm):
    a, b = llm.complete(Q, max_tokens=6), llm.complete(Q, max_tokens=6)
    assert a.text == b.text and a.text.strip()
    if llm.model_name == "SmolLM2-135M-Instruct" and not hasattr(llm, "_llama"):
        assert "Paris" in a.text  # (llama.cpp's Q8 activations may change this tiny model's greedy words)
    assert a.usage.prompt_tokens == llm.count_tokens(llm.render_prompt(Q))
    assert a.usage.completion_tokens == 6 and a.finish_reason == "length"
    short = llm.complete("Is the sky blue? Answer yes or no.", max_tokens=12)
    assert short.finish_reason == "stop" and short.usage.completion_tokens < 12


def test_stop_strings_and_stream(llm):
    full = llm.complete(Q, max_tokens=8).text
    word = full.split()[1]  # (the greedy words differ between the engines)
    cut = llm.complete(Q, max_tokens=8, stop=[word])
    assert cut.text == full[: full.index(word)] and cut.finish_reason == "stop"
    items = list(llm.stream(Q, max_tokens=8))
    assert isinstance(items[-1], Completion) and len(items) > 3
    assert "".join(items[:-1]) == items[-1].text == full


def test_seeded_sampling_and_batch(llm):
    one = llm.complete("Write a word.", temperature=1.2, seed=11, max_tokens=6)
    assert llm.complete("Write a word.", temperature=1.2, seed=11, max_tokens=6).text == one.text
    others = {llm.complete("Write a word.", temperature=1.2, seed=s, max_tokens=6).text for s in (1, 2, 3)}
    assert len(others | {one.text}) > 1
    rows = llm.batch([Q, "Name a colour."], max_tokens=5)
    assert [r.text for r in rows] == [llm.complete(q, max_tokens=5).text for q in (Q, "Name a colour.")]


async def test_async_twins(llm):
    done = await llm.acomplete(Q, max_tokens=4)
    pieces = [p async for p in llm.astream(Q, max_tokens=4)]
    assert pieces[-1].text == done.text == "".join(pieces[:-1])


def test_constrained_tool_call_and_response_format(llm):
    call = llm.complete("What is 2 + 3? Use the tool.", tools=[ADD], tool_choice="required", max_tokens=24)
    assert call.finish_reason == "tool_calls" and call.tool_calls[0].name == "add"
    assert set(call.tool_calls[0].arguments) == {"a", "b"}
    assert all(isinstance(v, int) for v in call.tool_calls[0].arguments.values())
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}}, "required": ["colour"]}
    out = llm.complete("Name a colour.", response_format=schema, max_tokens=16)
    assert out.parsed["colour"] in ("red", "green", "blue") and out.text == f'{{"colour": "{out.parsed["colour"]}"}}'
    tuned = {"adapter": "augment"} if "augment" in (getattr(llm, "adapters", None) or []) else {}  # augment's tool adapter
    answer = llm.complete("Say hello.", tools=[ADD], tool_choice="none", max_tokens=16, **tuned)
    assert not answer.tool_calls and answer.text


def test_llamacpp_constrains_with_the_same_grammar_engine(llamacpp_llm, tmp_path):
    """llama.cpp's constrained calls run xgrammar's matcher as a logits processor (the transformers backend's
    engine: the same grammar, the same bytes out, closing mode included); grammar="gbnf" keeps llama.cpp's own."""
    from augment.llm.llamacpp import LlamaCppLLM

    assert llamacpp_llm.grammar == "xgrammar"
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    cut = llamacpp_llm.complete("Tell a long story.", response_format=schema, max_tokens=6)
    assert set(cut.parsed) == {"story"} and cut.text == json.dumps(cut.parsed)  # closed in time, compact separators
    assert llamacpp_llm._xgr_engine.vocab_size == llamacpp_llm._llama.n_vocab()
    call = llamacpp_llm.complete("What is 2 + 3? Use the tool.", tools=[ADD], tool_choice="required", max_tokens=24)
    try:
        llamacpp_llm.grammar = "gbnf"
        gbnf = llamacpp_llm.complete("What is 2 + 3? Use the tool.", tools=[ADD], tool_choice="required", max_tokens=24)
    finally:
        llamacpp_llm.grammar = "xgrammar"
    assert call.tool_calls[0].name == gbnf.tool_calls[0].name == "add"
    assert set(gbnf.tool_calls[0].arguments) == set(call.tool_calls[0].arguments) == {"a", "b"}
    with pytest.raises(ConfigError, match="grammar='regex'.*'xgrammar'.*'gbnf'"):
        LlamaCppLLM(tmp_path / "any.gguf", grammar="regex")


def test_errors_are_the_same_on_both(llm):
    with pytest.raises(ContextLengthError, match="context window"):
        llm.complete("word " * 9000, max_tokens=4)
    with pytest.raises(AdapterError, match="no adapter named 'nope'"):
        llm.complete(Q, max_tokens=2, adapter="nope")
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        llm.complete(Q, colour="red")


def _turns(llm) -> list:
    """Replies of a conversation extended turn by turn (each prompt extends the last), then a constrained call."""
    system = "You are a careful assistant for a lighthouse museum. " * 12  # longer than a prefill block
    msgs, out = [{"role": "system", "content": system}], []
    for q in ("When was the lighthouse built?", "Who was the last keeper?", "Name a colour."):
        msgs.append({"role": "user", "content": q})
        reply = llm.complete(msgs, max_tokens=6).text
        out.append(reply)
        msgs.append({"role": "assistant", "content": reply})
    msgs.append({"role": "user", "content": "Add 2 and 3 with the tool."})
    call = llm.complete(msgs, tools=[ADD], tool_choice="required", max_tokens=24)
    return out + [[(c.name, c.arguments) for c in call.tool_calls]]


def test_prefix_reuse_changes_nothing_but_the_work(llm):
    """Both engines reuse the previous prompts' key/values; replies are the same with the reuse off."""
    kept = llm.prefix_cache
    llm.clear_prefix_cache()
    before = kept.stats()
    with_reuse = _turns(llm)
    after = kept.stats()
    assert after["hits"] >= before["hits"] + 3 and after["reused_tokens"] > before["reused_tokens"] + 300
    assert after["entries"] >= 1
    llm.prefix_cache = None
    try:
        without = _turns(llm)
    finally:
        llm.prefix_cache = kept
    assert kept.stats()["hits"] == after["hits"]  # nothing counted while off
    assert with_reuse == without and with_reuse[-1], with_reuse
    llm.clear_prefix_cache()
    llm.complete([{"role": "system", "content": "You are a careful assistant for a lighthouse museum. " * 12},
                  {"role": "user", "content": "Hi"}], max_tokens=2)
    assert kept.stats()["misses"] == after["misses"] + 1  # cleared: nothing to reuse


def test_llamacpp_prefix_cache_option(llamacpp_llm):
    from augment.llm.llamacpp import LlamaCppLLM

    with pytest.raises(ConfigError, match="prefix_cache='yes'.*pass True"):
        LlamaCppLLM(llamacpp_llm.model_path, prefix_cache="yes")
    assert "prefix_cache" in LlamaCppLLM.OPTIONS  # load_llm("llamacpp", prefix_cache=False) passes it on


def test_left_truncation_is_the_same_on_both(llm, monkeypatch):
    """truncation='left' keeps the newest tokens, warns, and leaves room for the reply (a 256-token window here)."""
    monkeypatch.setattr(llm, "context_window", 256)
    long = "Remember: " + " ".join(f"w{i}" for i in range(400)) + ". What is the capital of France?"
    with pytest.raises(ContextLengthError, match="truncation='left'"):
        llm.complete(long, max_tokens=8)
    monkeypatch.setattr(llm, "truncation", "left")
    with pytest.warns(UserWarning, match=r"truncated from the left to 248 tokens \(context window 256\)"):
        c = llm.complete(long, max_tokens=8)
    assert c.usage.prompt_tokens == 248 and c.usage.completion_tokens <= 8 and c.text.strip()


CALC = {"type": "function", "function": {"name": "calculator", "description": "Evaluate an arithmetic expression.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}


def _calls(llm, questions) -> list:
    return [[(c.name, c.arguments) for c in llm.complete(q, tools=[CALC, ADD], tool_choice="required",
                                                          max_tokens=32).tool_calls] for q in questions]


def test_llamacpp_drafts_the_grammars_forced_text_and_checks_it(llamacpp_llm, monkeypatch):
    """Greedy constrained calls on llama.cpp feed the forced text in one batch: fewer passes, the same calls."""
    questions = ["What is 17 * 23?", "Add 2 and 40."]
    monkeypatch.setattr(llamacpp_llm, "draft_forced", False)
    plain = _calls(llamacpp_llm, questions)
    monkeypatch.setattr(llamacpp_llm, "draft_forced", True)
    before = dict(llamacpp_llm.draft_stats)
    drafted = _calls(llamacpp_llm, questions)
    stats = {k: v - before[k] for k, v in llamacpp_llm.draft_stats.items()}
    assert drafted == plain and all(drafted), (drafted, plain)
    assert stats["accepted"] >= 10 and stats["drafted"] >= stats["accepted"], stats
    tokens = sum(len(json.dumps(c)) for c in drafted)  # far more characters than passes
    assert stats["passes"] < tokens / 3, stats

    # drafts that are always wrong: every one rejected, its key/values dropped, the calls unchanged
    from augment.llm.constrained import GrammarLogitsProcessor

    bogus = llamacpp_llm.tokenize("zq zq zq zq")
    monkeypatch.setattr(GrammarLogitsProcessor, "draft_with", lambda self, lookup, tok: lambda seq, limit: bogus[:limit])
    before = dict(llamacpp_llm.draft_stats)
    assert _calls(llamacpp_llm, questions) == plain
    stats = {k: v - before[k] for k, v in llamacpp_llm.draft_stats.items()}
    assert stats["drafted"] >= 20 and stats["accepted"] == 0, stats


def test_llamacpp_spec_errors_need_no_engine(tmp_path, monkeypatch):
    import builtins

    from augment.errors import MissingDependencyError, ModelNotFoundError
    from augment.llm.loader import load_llm

    with pytest.raises(ConfigError, match=r"unknown load_llm option\(s\) \['dtype'\] for a llama.cpp model"):
        load_llm("llamacpp", dtype="float32")
    with pytest.raises(ModelNotFoundError, match="GGUF file not found"):
        load_llm(f"llamacpp:{tmp_path / 'missing.gguf'}")
    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MissingDependencyError, match=r"augment\[llamacpp\]"):
        load_llm("llamacpp")


def test_peft_adapter_converted_for_llamacpp_acts_as_on_transformers(default_llm, llamacpp_llm):
    """augment's shipped PEFT adapter, converted to a GGUF LoRA, loads and changes llama.cpp's replies."""
    assert "augment" in llamacpp_llm.adapters and llamacpp_llm.active_adapter is None  # loaded, not active, as on transformers
    for q in ("Name three planets.", "What is 12 plus 30?"):
        base = llamacpp_llm.complete(q, max_tokens=8).text
        tuned = llamacpp_llm.complete(q, max_tokens=8, adapter="augment").text
        assert tuned.strip() and tuned != base
        # (the replies themselves may differ between engines: llama.cpp runs the Q4_1 weights converted to
        # Q8_0, transformers dequantized to bf16/float32; test_llamacpp_cpu_weights compares the originals)


def test_llamacpp_cpu_weights(float32_reference, llamacpp_llm, tmp_path, monkeypatch):
    """The shipped Q4_1 file runs as Q8_0 (llama.cpp's fast CPU kernels), converted once; 'original' keeps it as is."""
    from pathlib import Path

    from augment.llm.llamacpp import cpu_weights, gguf_file_type
    from augment.llm.loader import load_llm

    shipped = llamacpp_llm.model_path
    assert gguf_file_type(shipped) == "q4_1" and gguf_file_type(llamacpp_llm.weights_path) == "q8_0"
    assert llamacpp_llm.weights_path != shipped and llamacpp_llm.weights_path.name.endswith(".gguf")
    converted = cpu_weights(shipped)  # cached: the same file, not converted again
    assert converted == llamacpp_llm.weights_path and converted.stat().st_mtime_ns == llamacpp_llm.weights_path.stat().st_mtime_ns
    assert cpu_weights(shipped, "original") == shipped and cpu_weights(converted) == converted  # Q8_0 is left alone
    with pytest.raises(ConfigError, match=r"weights='q3'.*'auto'.*'original'"):
        cpu_weights(shipped, "q3")
    # a fresh cache folder converts again, atomically, leaving no temporary file
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path))
    fresh = cpu_weights(shipped, "bf16")
    assert gguf_file_type(fresh) == "bf16" and Path(fresh).parent == tmp_path / "gguf"
    assert [p.name for p in (tmp_path / "gguf").iterdir()] == [fresh.name]

    # an unwritable cache folder: "auto" runs the file as it is (with a warning), an explicit type says how to fix it
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="running SmolLM2-135M-Instruct.Q4_1.gguf as it is"):
        assert cpu_weights(shipped) == shipped
    with pytest.raises(ConfigError, match=r"AUGMENT_CACHE_DIR.*weights='original'"):
        cpu_weights(shipped, "q8_0")
    monkeypatch.delenv("AUGMENT_CACHE_DIR")

    original = load_llm("llamacpp", n_ctx=2048, weights="original")
    try:
        assert original.weights_path == shipped
        # as before the conversion: the engines agree, llama.cpp on the file as it is and transformers on the
        # same weights in float32 (transformers' own 4-bit decode and float16 head round differently, near ties)
        for q in ("Name three planets.", "What is 12 plus 30?"):
            assert original.complete(q, max_tokens=8).text == float32_reference.complete(q, max_tokens=8).text
        # the converted weights score the next token as the originals do, to within rounding
        import numpy as np

        def next_logits(llm):  # of the base model, whatever adapter an earlier test left active
            active = llm.active_adapter
            llm.set_adapter(None)
            with llm._lock, llm._adapter_scope(None):
                llm.set_adapter(active)
                llm._llama.reset()
                llm._prefilled = 0
                llm._prefill(llm.tokenize(llm.render_prompt("Name three planets.")))
                return np.ctypeslib.as_array(llm._llama._ctx.get_logits(), shape=(llm._llama.n_vocab(),)).copy()

        a, b = next_logits(original), next_logits(llamacpp_llm)
        assert a.max() - a.min() > 5 and a.argmax() == b.argmax()
        assert abs(a - b).max() < 0.05 * (a.max() - a.min()), abs(a - b).max()
    finally:
        original.close()
