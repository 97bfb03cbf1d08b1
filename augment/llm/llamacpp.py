"""Local GGUF models on llama.cpp (``llama-cpp-python``, extra ``augment[llamacpp]``).

The same interface as :class:`~augment.llm.transformers.TransformersLLM` on a
faster engine for short prompts and long replies: the embedded default model
decodes about 4x faster here and loads in a fraction of a second.

>>> from augment.llm.loader import load_llm                     # doctest: +SKIP
>>> llm = load_llm("llamacpp")           # the embedded default GGUF  # doctest: +SKIP
>>> llm.complete("Capital of France?", max_tokens=8).text        # doctest: +SKIP
'The capital of France is Paris.'
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

from augment.errors import AdapterError, ConfigError, ContextLengthError, MissingDependencyError, ModelLoadError, ModelNotFoundError
from augment.llm import _hf
from augment.llm.base import LLM, GenerateOptions, MessagesLike, StreamItem, normalize_messages, normalize_tools
from augment.types import Completion, Message, Usage

__all__ = ["LlamaCppLLM", "LlamaPrefixReuse"]

_PIP = "pip install 'augment[llamacpp]'  (llama-cpp-python; it builds from source in about 8 minutes)"
_LOAD_LOCK = threading.Lock()

#: GGUF file types (``general.file_type``) by the names ``weights=`` accepts
_FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 8, "q5_1": 9, "q8_0": 7, "bf16": 32}
#: weight types that llama.cpp's CPU matrix kernels have no fast path for (no llamafile sgemm,
#: no repacking): measured here on the shipped Q4_1 default model, a 1,000-token prefill takes
#: 3.7-4.1 s, the same weights as Q8_0 2.1-2.3 s, and decode is no slower (84 vs 77 tok/s)
_SLOW_CPU_TYPES = {"q4_1", "q5_1"}


def gguf_file_type(path: str | os.PathLike) -> str | None:
    """The weight type a GGUF file declares (``"q4_1"``, ``"q8_0"``...), or ``None`` when unknown."""
    import gguf

    try:
        field = gguf.GGUFReader(str(path)).get_field("general.file_type")
    except (ValueError, OSError):
        return None
    code = None if field is None else int(field.contents())
    return next((name for name, c in _FILE_TYPES.items() if c == code), None)


def cpu_weights(path: str | os.PathLike, weights: str = "auto", *, verbose: bool = False) -> Path:
    """The GGUF file to load for ``path``: itself, or its weights converted once by llama.cpp's quantizer (cached).

    ``weights="auto"`` converts only types llama.cpp runs slowly on a CPU (Q4_1,
    Q5_1) to Q8_0, which it multiplies with its fast kernels: the same weights to
    within rounding (each value within 1/254 of its 32-value block's largest
    magnitude), about 1.8x faster prefill. ``"original"`` loads the file as it is; ``"q8_0"``,
    ``"bf16"``, ``"f16"``, ``"f32"`` or ``"q4_0"`` convert to that type. The
    converted file lives under ``$AUGMENT_CACHE_DIR/gguf``, keyed by the source
    file's path, size and modification time.
    """
    import ctypes as c
    import hashlib

    from augment.paths import cache_root, write_atomically

    path = Path(path)
    if weights not in ("auto", "original", *_FILE_TYPES):
        raise ConfigError(f"weights={weights!r}; use 'auto' (convert Q4_1/Q5_1 to Q8_0), 'original' (load the file "
                          f"as it is) or one of {sorted(_FILE_TYPES)}")
    have = gguf_file_type(path)
    want = ("q8_0" if have in _SLOW_CPU_TYPES else None) if weights == "auto" else weights
    if want in (None, "original", have):
        return path
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    folder = cache_root() / "gguf"
    target = folder / f"{path.stem}-{want}-{key}.gguf"
    if target.is_file():
        return target
    llama_cpp = _llama_cpp()

    def convert(tmp: str) -> None:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = _FILE_TYPES[want]
        params.allow_requantize = True
        params.nthread = 0  # all cores
        from llama_cpp._utils import suppress_stdout_stderr

        with _LOAD_LOCK, suppress_stdout_stderr(disable=verbose):
            rc = llama_cpp.llama_model_quantize(str(path).encode(), tmp.encode(), c.byref(params))
        if rc:
            raise ModelLoadError(f"llama.cpp could not convert {path} to {want} (code {rc}); "
                                 "load it with weights='original'")

    try:
        return write_atomically(target, convert)
    except OSError as e:  # the cache folder cannot be written (a failed conversion is a ModelLoadError)
        if weights != "auto":
            raise ConfigError(f"cannot write the converted weights under {folder} ({e}); set $AUGMENT_CACHE_DIR "
                              "to a writable folder or use weights='original'") from e
        import warnings

        warnings.warn(f"augment: cannot write {folder} ({e.strerror}); running {path.name} as it is (slower on CPU). "
                      "Set $AUGMENT_CACHE_DIR to a writable folder to convert it once.", stacklevel=3)
        return path


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as e:
        raise MissingDependencyError("llama-cpp-python", _PIP, purpose="the llama.cpp backend") from e
    return llama_cpp


@contextlib.contextmanager
def _model_params_without_extra_bufts(llama_cpp: Any) -> Iterator[None]:
    """On AMX CPUs llama-cpp-python 0.3.x segfaults unless weights load with ``use_extra_bufts=False``.

    ``Llama`` builds its model parameters from ``llama_model_default_params()``
    and offers no argument for it, so that function is wrapped while the model loads.
    """
    from augment._cpu import cpu_has_amx

    low = llama_cpp.llama_cpp
    original = low.llama_model_default_params
    if not cpu_has_amx():
        yield
        return

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = original


def _numpy_processor(processor: Any) -> Any:
    """``processor`` (a transformers-style logits processor over torch rows) as llama-cpp-python calls one:
    ``(input_ids, logits)`` numpy arrays of one sequence, returning the new logits."""
    import numpy as np
    import torch

    def run(input_ids: Any, logits: Any) -> Any:
        ids = torch.from_numpy(np.asarray(input_ids[-1:], dtype=np.int64)).unsqueeze(0)
        scores = torch.from_numpy(np.array(logits, dtype=np.float32)).unsqueeze(0)
        return processor(ids, scores)[0].numpy()

    return [run]


class LlamaPrefixReuse:
    """llama.cpp's prompt-prefix reuse on a :class:`LlamaCppLLM`: its counters and ``clear()``.

    llama.cpp keeps one sequence's key/value cache; a call reuses the longest
    common token prefix of the previous prompt (see :meth:`LlamaCppLLM._prefill`),
    so there is one entry. The same ``stats()`` keys as
    :class:`augment.llm.kvcache.PrefixCache` on the transformers backend; set
    ``llm.prefix_cache = None`` (or load with ``prefix_cache=False``) to compute
    every prompt from its first token.
    """

    def __init__(self, owner: "LlamaCppLLM"):
        import weakref

        self._owner = weakref.ref(owner)
        self.hits = self.misses = self.reused_tokens = self.computed_tokens = 0

    def record(self, reused: int, total: int) -> None:
        self.hits += reused > 0
        self.misses += reused == 0
        self.reused_tokens += reused
        self.computed_tokens += total - reused

    def clear(self) -> None:
        """Forget the kept prompt: the next call computes its prompt from the first token (the counters stay)."""
        owner = self._owner()
        if owner is not None:
            owner.clear_prefix_cache()

    def stats(self) -> dict[str, int]:
        """``entries`` (0 or 1), ``hits``, ``misses``, ``reused_tokens``, ``computed_tokens`` (prompt tokens run)."""
        owner = self._owner()
        return {"entries": int(bool(owner is not None and owner._prefilled)), "hits": self.hits, "misses": self.misses,
                "reused_tokens": self.reused_tokens, "computed_tokens": self.computed_tokens}

    def __repr__(self) -> str:
        return f"LlamaPrefixReuse({self.stats()})"


class LlamaCppLLM(LLM):
    """A GGUF model on llama.cpp: chat template, streaming, stop strings, seeds, grammar-constrained JSON, LoRA.

    Build one with :func:`augment.llm.loader.load_llm` (``"llamacpp"`` for the
    embedded default model, ``"llamacpp:path/model.gguf"`` for another file)::

        llm = LlamaCppLLM("model.gguf", n_ctx=4096)
        llm.complete("Hi", max_tokens=20).text
        llm.complete("2+3?", tools=[add_tool]).tool_calls     # constrained by a grammar
        llm.load_adapter("runs/lora")                        # a PEFT LoRA folder, converted to GGUF once

    Prompts are rendered exactly as on the transformers backend (the GGUF's chat
    template, tools in the system message when the template has no ``tools``),
    so ``render_prompt`` gives the same text. Tool calls and ``response_format``
    use the JSON schemas, instruction and parsing of :mod:`augment.llm.constrained`
    and, by default, its grammar engine too: xgrammar's matcher over this model's
    vocabulary, run as llama-cpp-python's logits processor (``grammar="xgrammar"``),
    so both backends allow the same bytes (the compact JSON augment's adapter is
    trained on) and close a reply that reaches ``max_tokens`` the same way.
    ``grammar="gbnf"`` uses llama.cpp's own grammar sampler on a GBNF grammar from
    the same schema instead (its JSON output is re-serialised with the same separators).
    Measured on the default model, 2 cores: the GBNF sampler cost about 6 ms a token
    (constrained steps 0.37-0.42 s against 0.26-0.30 s for free tokens); with xgrammar
    the 42 agent tasks of ``tools/eval_agent.py --model llamacpp`` took 0.91 s a task
    against 1.1 s (64% against 62% solved; agent_fresh 22% both, 1.13 against 1.34 s).
    Consecutive calls reuse the longest common token prefix of the previous
    prompt (llama.cpp's own KV cache), so an agent loop pays only for new tokens;
    ``llm.prefix_cache`` counts it (:class:`LlamaPrefixReuse`), ``prefix_cache=False``
    (or ``llm.prefix_cache = None``) turns it off, and the output is the same either way.
    Greedy constrained calls draft the grammar's forced text (``draft_forced=True``, see
    :meth:`_drafted`): on the 42 agent tasks of ``tools/eval_agent.py --model llamacpp``
    (2-core AVX2 EPYC) 1.16 s a task against 1.54 s without (66.7% against 64.3% solved).
    Batches run their rows one after the other. Thread safety: calls are serialised by a lock.
    """

    #: the options :func:`augment.llm.loader.load_llm` passes on for ``"llamacpp:..."`` specs
    OPTIONS = ("n_ctx", "n_threads", "model_name", "truncation", "seed", "n_batch", "verbose", "weights", "flash_attn",
               "grammar", "prefix_cache", "draft_forced")

    def __init__(self, model_path: str | os.PathLike, *, n_ctx: int | None = None, n_threads: int | None = None,
                 model_name: str | None = None, truncation: str = "error", seed: int = 0, n_batch: int = 512,
                 verbose: bool = False, weights: str = "auto", flash_attn: bool = True, grammar: str = "xgrammar",
                 prefix_cache: bool = True, draft_forced: bool = True):
        if truncation not in ("error", "left"):
            raise ConfigError(f"truncation={truncation!r}; use 'error' (raise ContextLengthError) or 'left'")
        if not isinstance(prefix_cache, bool):
            raise ConfigError(f"prefix_cache={prefix_cache!r}: llama.cpp keeps one prompt's cache; pass True (reuse "
                              "its longest common prefix, the default) or False (compute every prompt whole)")
        if grammar not in ("xgrammar", "gbnf"):
            raise ConfigError(f"grammar={grammar!r}; use 'xgrammar' (the default: the transformers backend's grammar "
                              "engine, as a logits processor) or 'gbnf' (llama.cpp's own grammar sampler)")
        #: what constrains tool calls and ``response_format`` (see :meth:`_constrained`)
        self.grammar = grammar
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file not found: {path}. Check the path, or use load_llm('llamacpp') "
                                     "for the embedded default model")
        llama_cpp = _llama_cpp()
        self.model_path = path
        #: the file llama.cpp runs: ``model_path`` itself or its weights converted for the CPU (see :func:`cpu_weights`)
        self.weights_path = cpu_weights(path, weights, verbose=verbose)
        self.model_name = model_name or path.stem
        self.truncation = truncation
        self._lock = threading.RLock()
        self._seed = seed
        with _LOAD_LOCK, _model_params_without_extra_bufts(llama_cpp):
            try:
                probe_ctx = n_ctx or 8192
                self._llama = llama_cpp.Llama(str(self.weights_path), n_ctx=probe_ctx, n_threads=n_threads,
                                              n_threads_batch=n_threads, seed=seed, n_batch=n_batch,
                                              flash_attn=flash_attn, verbose=verbose)
            except (ValueError, RuntimeError) as e:
                raise ModelLoadError(f"llama.cpp could not load {path}: {str(e).splitlines()[0][:300]}") from e
        trained = int(self._llama.metadata.get(f"{self._llama.metadata.get('general.architecture', 'llama')}.context_length", 0) or 0)
        self.context_window = self._llama.n_ctx() if not trained else min(self._llama.n_ctx(), trained)
        self.chat_template = self._llama.metadata.get("tokenizer.chat_template")
        self._template = None
        self._adapters: dict[str, Any] = {}
        self._active_adapter: str | None = None
        self._applied: str | None = None  # the adapter set on the context now
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self._eos = self._llama.token_eos()
        self._prefilled = 0  # KV positions computed by a prompt prefill (batches of >= 2 tokens), see _prefill
        #: greedy constrained calls feed the grammar's forced text in one checked batch (see :meth:`_drafted`)
        self.draft_forced = bool(draft_forced)
        #: decoding passes of drafted calls, tokens drafted and drafted tokens accepted (see :meth:`_drafted`)
        self.draft_stats = {"passes": 0, "drafted": 0, "accepted": 0}
        #: the prompt-prefix reuse (counters, ``clear()``), or None: every prompt computed from its first token
        self.prefix_cache: LlamaPrefixReuse | None = LlamaPrefixReuse(self) if prefix_cache else None

    # ---- prompts --------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def render_prompt(self, messages: MessagesLike, tools: Any = None, **_: Any) -> str:
        """The exact text the model sees for ``messages`` (with ``tools`` described when given)."""
        msgs = normalize_messages(messages)
        tools = normalize_tools(tools)
        if not self.chat_template:
            if tools:
                msgs = [Message.system(_hf.tools_system_text(tools))] + msgs
            return _hf.plain_prompt(msgs)
        dicts, pass_tools = _hf.messages_for_template(msgs, self.chat_template, tools)
        extra = {"tools": tools} if pass_tools else {}
        return self._jinja().render(messages=dicts, add_generation_prompt=True, bos_token=self._special(self._llama.token_bos()),
                                    eos_token=self._special(self._eos), **extra)

    def _special(self, token: int) -> str:
        if token is None or token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", "replace")

    def _jinja(self) -> Any:
        """The chat template compiled as transformers does (sandboxed, trim_blocks, lstrip_blocks)."""
        if self._template is None:
            from jinja2.ext import loopcontrols
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise ConfigError(f"the chat template refused the conversation: {message}")

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
            env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, ensure_ascii=False, indent=indent)
            env.globals["raise_exception"] = raise_exception
            self._template = env.from_string(self.chat_template)
        return self._template

    def tokenize(self, prompt: str) -> list[int]:
        """Token ids of a rendered prompt (a chat-template text holds its own special tokens)."""
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=not self.has_chat_template, special=True)

    def count_tokens(self, text: str) -> int:
        """Exact number of tokens of ``text`` (special tokens written in it count as one, as on transformers)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # ---- generation -----------------------------------------------------
    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        if options.tools or options.response_format:
            return self._constrained(messages, options)
        return self._complete(self.render_prompt(messages), options)

    def generate_batch(self, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
        return [self.generate(c, options) for c in conversations]

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        if options.tools or options.response_format:
            yield from super().generate_stream(messages, options)
            return
        tokens, max_new = self._fit(self.tokenize(self.render_prompt(messages)), options.max_tokens)
        text, finish, produced = "", "length", 0
        with self._lock, self._adapter_scope(options.adapter):
            self._prefill(tokens)
            chunks = self._llama.create_completion(tokens, stream=True, **self._sampling(options, max_new))
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = choice.get("text") or ""
                    produced += 1 if piece or choice.get("finish_reason") is None else 0
                    if piece:
                        text += piece
                        yield piece
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        used = min(produced, max_new)
        yield Completion(text, finish_reason=finish, usage=Usage(len(tokens), used), model=self.model_name)

    def _complete(self, prompt: str, options: GenerateOptions, grammar: Any = None, extra_tokens: int = 0,
                  processor: Any = None) -> Completion:
        tokens, max_new = self._fit(self.tokenize(prompt), options.max_tokens + extra_tokens)
        with self._lock, self._adapter_scope(options.adapter):
            self._prefill(tokens)
            extra = {} if processor is None else {"logits_processor": _numpy_processor(processor)}
            out = self._llama.create_completion(tokens, grammar=grammar, **self._sampling(options, max_new), **extra)
        choice, usage = out["choices"][0], out.get("usage") or {}
        return Completion(choice["text"], finish_reason=choice.get("finish_reason") or "stop",
                          usage=Usage(usage.get("prompt_tokens", len(tokens)), usage.get("completion_tokens", 0)),
                          model=self.model_name)

    def _prefill(self, tokens: list[int]) -> None:
        """Compute the prompt's KV cache, reusing the longest common prefix of the previous prompt (the caller holds the lock).

        llama.cpp computes a lone token (a decode step) with other kernels than a
        batch of two or more, so its key/values and logits differ slightly (0.6 in a
        logit, measured): enough to change a seeded sample. Prompts are therefore
        always computed in batches of at least two tokens, and only positions computed
        that way are reused (not the reply's tokens, which were decoded one by one):
        a call gives the same output whatever ran before it. ``create_completion``
        then finds the whole prompt evaluated and samples from its logits.
        """
        llama, reuses = self._llama, self.prefix_cache
        cached = llama.input_ids[: min(llama.n_tokens, self._prefilled)] if reuses is not None else ()
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        reuse = max(0, min(common, len(tokens) - 2))
        if (len(tokens) - reuse) % llama.n_batch == 1 and reuse > 0:
            reuse -= 1  # no trailing batch of one token
        if reuses is not None:
            reuses.record(reuse, len(tokens))
        llama.n_tokens = reuse  # eval() drops the KV cache after it
        rest = tokens[reuse:]
        step = llama.n_batch
        while rest:
            take = step if len(rest) != step + 1 else step - 1  # never leave one token for a batch of its own
            llama.eval(rest[:take])
            rest = rest[take:]
        self._prefilled = len(tokens)

    def _sampling(self, options: GenerateOptions, max_new: int) -> dict[str, Any]:
        """llama.cpp sampling equal to the transformers backend: greedy at 0, else temperature + top_p only."""
        seed = options.seed if options.seed is not None else (self._seed if not options.do_sample else None)
        return {"max_tokens": max_new, "temperature": options.temperature, "top_p": options.top_p, "top_k": 0,
                "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": 1.0, "stop": list(options.stop) or None,
                "seed": seed if seed is not None else int.from_bytes(os.urandom(4), "little")}

    def _fit(self, tokens: list[int], max_tokens: int) -> tuple[list[int], int]:
        """Enforce the context window; return ``(tokens, max_new_tokens)``."""
        window = self.context_window
        if len(tokens) > window - 1:
            if self.truncation == "error":
                raise ContextLengthError(
                    f"the prompt has {len(tokens)} tokens but {self.model_name} holds {window} (context window) minus "
                    "1 token to generate; shorten the conversation, or load the model with truncation='left'")
            import warnings

            keep = window - min(max_tokens, window // 2)
            warnings.warn(f"prompt of {len(tokens)} tokens truncated from the left to {keep} tokens "
                          f"(context window {window})", stacklevel=4)
            tokens = tokens[-keep:]
        return tokens, max(1, min(max_tokens, window - len(tokens)))

    # ---- constrained decoding ------------------------------------------
    def _constrained(self, messages: list[Message], options: GenerateOptions) -> Completion:
        from augment.llm.constrained import (CLOSE_BUDGET, GrammarLogitsProcessor, _response_schema, add_instruction,
                                             format_instruction, parse_constrained, tool_call_schema)

        if options.tools:
            answer = _response_schema(options.response_format) if options.response_format else None
            schema = tool_call_schema(options.tools, options.tool_choice, answer)
        else:
            schema = _response_schema(options.response_format or {})
        prompt = self.render_prompt(add_instruction(messages, format_instruction(options)), tools=options.tools)
        run = options.model_copy(update={"stop": []})
        if self.grammar == "gbnf":
            raw = self._complete(prompt, run, grammar=self._grammar(schema), extra_tokens=CLOSE_BUDGET)
        else:
            engine = self._engine()
            processor = GrammarLogitsProcessor(engine, engine.compile(schema), 1, options.max_tokens, [self._eos])
            if self.draft_forced and not options.do_sample:
                raw = self._drafted(prompt, run, processor, extra_tokens=CLOSE_BUDGET)
            else:
                raw = self._complete(prompt, run, extra_tokens=CLOSE_BUDGET, processor=processor)
        try:
            text, calls, parsed = parse_constrained(raw.text, options)
        except (ValueError, KeyError, TypeError):  # cut off even after the closing budget
            return Completion(raw.text, finish_reason="length", usage=raw.usage, model=self.model_name)
        if not options.tools:
            text = json.dumps(parsed, ensure_ascii=False, separators=(", ", ": "))  # the transformers backend's format
        finish = "tool_calls" if calls else ("length" if raw.usage.completion_tokens > options.max_tokens else "stop")
        return Completion(text, tool_calls=calls, finish_reason=finish, usage=raw.usage, model=self.model_name, parsed=parsed)

    def _drafted(self, prompt: str, options: GenerateOptions, processor: Any, extra_tokens: int) -> Completion:
        """Greedy constrained decoding that feeds the grammar's forced text in one batch and checks it.

        After a tool's first letters the grammar leaves one way on (``ulator", "arguments":
        {"expression": "``): those tokens go to llama.cpp together with the last chosen token,
        with logits kept at every position, and each is accepted only while it is the
        constrained greedy choice there (the same check as
        :func:`augment.llm.lookahead.greedy_decode` on transformers); the key/values of a
        rejected draft are dropped. Measured on the default model (2 cores, AVX2): one token
        costs 12-14 ms a pass, 8 tokens in one batch 44-61 ms.
        """
        import numpy as np
        import torch

        from augment.llm.lookahead import check_drafts

        low = _llama_cpp().llama_cpp
        tokens, max_new = self._fit(self.tokenize(prompt), options.max_tokens + extra_tokens)
        llama = self._llama
        vocab = llama.n_vocab()

        def tokenize(text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
            return {"input_ids": llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)}

        drafter = processor.draft_with(lambda seq, limit: [], tokenize)
        seq, new, finish, stats = list(tokens), [], "length", self.draft_stats
        with self._lock, self._adapter_scope(options.adapter):
            self._prefill(tokens)
            rows = [np.ctypeslib.as_array(low.llama_get_logits_ith(llama.ctx, -1), shape=(vocab,)).copy()]
            draft: list[int] = []
            while True:
                accepted, eos = check_drafts(torch.from_numpy(np.stack(rows)), draft, seq, [processor], {self._eos})
                stats["accepted"] += len(accepted) - 1
                kept = len(seq) + len(accepted) - 1  # positions whose key/values stay: all but the last token
                if llama.n_tokens > kept:
                    llama._ctx.kv_cache_seq_rm(-1, kept, -1)
                    llama.n_tokens = kept
                accepted = accepted[: len(accepted) - eos][: max_new - len(new)]
                seq += accepted
                new += accepted
                if eos or len(new) >= max_new:
                    finish = "stop" if eos else "length"
                    break
                room = max_new - len(new) - 1
                draft = drafter(seq, room)[:room] if room > 0 else []
                feed = [seq[-1]] + draft
                stats["passes"] += 1
                stats["drafted"] += len(draft)
                llama._batch.set_batch(batch=feed, n_past=llama.n_tokens, logits_all=True)
                llama._ctx.decode(llama._batch)
                llama.input_ids[llama.n_tokens: llama.n_tokens + len(feed)] = feed
                llama.n_tokens += len(feed)
                rows = [np.ctypeslib.as_array(low.llama_get_logits_ith(llama.ctx, i), shape=(vocab,)).copy()
                        for i in range(len(feed))]
        text = llama.detokenize(new).decode("utf-8", "replace")
        return Completion(text, finish_reason=finish, usage=Usage(len(tokens), len(new)), model=self.model_name)

    def _engine(self) -> Any:
        """The xgrammar engine over this model's vocabulary (built once: the bytes of each token id)."""
        from augment.llm.constrained import _Engine

        with self._lock:
            engine = self.__dict__.get("_xgr_engine")
            if engine is None:
                llama = self._llama
                pieces = [llama.detokenize([i], special=False) for i in range(llama.n_vocab())]
                engine = self._xgr_engine = _Engine(None, len(pieces), [self._eos], pieces=pieces)
            return engine

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        """A llama.cpp grammar for ``schema`` (None: any JSON object), compiled once per schema."""
        llama_cpp = _llama_cpp()
        key = json.dumps(schema, sort_keys=True) if schema is not None else ""
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

                try:
                    grammar = (LlamaGrammar.from_string(JSON_GBNF, verbose=False) if schema is None
                               else LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False))
                except (ValueError, RuntimeError, KeyError, NotImplementedError) as e:
                    raise ConfigError(f"the JSON schema cannot be turned into a llama.cpp grammar: {e}. Use plain "
                                      "JSON-schema types (object, array, string, number, integer, boolean, enum, anyOf, $ref)") from e
                self._grammars[key] = grammar
                while len(self._grammars) > 32:
                    self._grammars.popitem(last=False)
            self._grammars.move_to_end(key)
        del llama_cpp
        return grammar

    # ---- LoRA adapters --------------------------------------------------
    @property
    def adapters(self) -> list[str]:
        """Names of the loaded adapters."""
        return list(self._adapters)

    @property
    def active_adapter(self) -> str | None:
        """The adapter used by default (``None``: the base model)."""
        return self._active_adapter

    def load_adapter(self, path: str | os.PathLike, name: str | None = None, *, activate: bool = True,
                     scale: float = 1.0) -> str:
        """Load a LoRA adapter: a PEFT folder (converted to a GGUF LoRA once, cached) or a GGUF LoRA file."""
        from augment.llm.gguf_lora import cached_peft_to_gguf_lora

        path = Path(path).expanduser()
        if path.is_dir():
            gguf_path = cached_peft_to_gguf_lora(path, self.model_path)
        elif path.suffix.lower() == ".gguf" and path.is_file():
            gguf_path = path
        else:
            raise ModelNotFoundError(f"no adapter at {path}: expected a PEFT folder with adapter_config.json "
                                     "or a GGUF LoRA file (.gguf)")
        name = name or path.stem
        if name in self._adapters:
            raise AdapterError(f"an adapter named {name!r} is already loaded; pick another name")
        low = _llama_cpp().llama_cpp
        with self._lock:
            handle = low.llama_adapter_lora_init(self._llama.model, str(gguf_path).encode("utf-8"))
            if not handle:
                raise AdapterError(f"llama.cpp could not load the adapter {path} (converted: {gguf_path}); "
                                   f"was it trained for {self.model_name}?")
            self._adapters[name] = (handle, float(scale))
            if activate:
                self._active_adapter = name
        return name

    def set_adapter(self, name: str | None) -> None:
        """Make ``name`` the active adapter; ``None`` uses the base model."""
        if name is not None:
            self._check_adapter(name)
        self._active_adapter = name

    def _check_adapter(self, name: str) -> None:
        if name not in self._adapters:
            loaded = ", ".join(self._adapters) or "none"
            raise AdapterError(f"no adapter named {name!r} (loaded: {loaded}); load it with llm.load_adapter(path, {name!r})")

    @contextlib.contextmanager
    def _adapter_scope(self, requested: str | None) -> Iterator[None]:
        """Set the request's adapter on the context (the caller holds the lock); a switch drops the reused prefix."""
        if requested is not None:
            self._check_adapter(requested)
        name = requested if requested is not None else self._active_adapter
        if name != self._applied:
            low = _llama_cpp().llama_cpp
            if name is None:
                rc = low.llama_set_adapters_lora(self._llama.ctx, None, 0, None)
            else:
                handle, scale = self._adapters[name]
                arr = (low.llama_adapter_lora_p_ctypes * 1)(handle)
                rc = low.llama_set_adapters_lora(self._llama.ctx, arr, 1, (ctypes.c_float * 1)(scale))
            if rc:
                raise AdapterError(f"llama.cpp could not apply the adapter {name!r} (code {rc})")
            self._applied = name
            self._llama.reset()  # the cached prompt was computed with other weights
            self._prefilled = 0
        yield

    def clear_prefix_cache(self) -> None:
        """Forget the kept prompt (as on the transformers backend): the next call computes its prompt whole."""
        with self._lock:
            self._prefilled = 0

    def close(self) -> None:
        """Free the model and its context."""
        with self._lock:
            self._llama.close()
