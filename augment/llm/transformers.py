"""Local models on torch + transformers: causal (Llama/GPT style) and seq2seq (T5 style).

>>> from augment.llm.loader import load_llm                      # doctest: +SKIP
>>> llm = load_llm()                 # SmolLM2-135M-Instruct, embedded  # doctest: +SKIP
>>> llm.complete("Capital of France?", max_tokens=8).text        # doctest: +SKIP
'The capital of France is Paris.'
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from augment.errors import ConfigError, ContextLengthError, ModelLoadError, ModelNotFoundError
from augment.llm import _hf
from augment.llm.lora import AdapterMixin
from augment.llm.base import LLM, GenerateOptions, MessagesLike, StreamItem, normalize_messages, normalize_tools
from augment.llm.kvcache import PrefixCache, block_prefill, cache_kwarg, weights_key
from augment.types import Completion, Message, Usage

__all__ = ["TransformersLLM", "Generated"]


@dataclass
class Generated:
    """Raw result of one row of :meth:`TransformersLLM._generate_ids`.

    ``ids`` are the new tokens (end-of-sequence and padding removed),
    ``hit_eos`` tells whether the model ended by itself, ``max_new_tokens`` is
    the limit that applied.
    """

    ids: list[int]
    prompt_tokens: int
    hit_eos: bool
    max_new_tokens: int


class _EventStop:
    """A stopping criterion that fires when a threading.Event is set (a stream consumer went away)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class TransformersLLM(AdapterMixin, LLM):
    """A local Hugging Face model: chat template, batching, streaming, stop strings, LoRA adapters.

    Build one with :func:`augment.llm.loader.load_llm` or
    :meth:`from_pretrained`, or wrap a model and tokenizer you already have::

        llm = TransformersLLM.from_pretrained("path/to/folder", dtype="float32")
        llm.complete("Hi", max_tokens=20).text
        for piece in llm.stream("Tell a joke"):        # str deltas, then the Completion
            print(piece if isinstance(piece, str) else "", end="")
        llm.batch(["q1", "q2"], max_tokens=16)        # one left-padded generate call

    Prompts: the tokenizer's chat template; a tokenizer without one gets the
    plain format of :func:`augment.llm._hf.plain_prompt` (a lone user message
    verbatim, else ``"Role: content"`` turns ending in ``"Assistant:"``).
    ``render_prompt(messages, tools=...)`` shows the exact text.

    Context overflow: a prompt that does not fit the context window raises
    :class:`ContextLengthError` (``truncation="error"``, the default), or,
    with ``truncation="left"``, loses its oldest tokens with a warning. When
    the prompt fits but ``max_tokens`` does not, fewer tokens are generated
    and ``finish_reason`` is ``"length"``.

    Tools / JSON: when ``tools`` or ``response_format`` is given (with
    ``tool_choice="none"`` the output is constrained to a final answer, never a
    call), generation is delegated to
    ``augment.llm.constrained.constrained_generate(self, conversations, options)``,
    which may use :meth:`render_prompt`, :meth:`_generate_ids` (HF generate on
    rendered prompts with extra ``logits_processor``, returning
    :class:`Generated` rows), :meth:`_to_completion` and ``_eos_ids`` (the
    token ids that end a reply).

    Prefix KV-cache reuse (``prefix_cache=True``, the default): the key/value
    cache of recent single prompts is kept (:class:`~augment.llm.kvcache.PrefixCache`,
    LRU, bounded in entries and bytes, keyed by the adapter and the weights),
    and the next call computes only the blocks of ``prefill_block`` (64 tokens
    up to 256, then 256) after the longest common prefix: an agent step re-reads its system
    prompt, tool schemas and earlier steps for free, a chat turn its history.
    One-row prompts are always prefilled in those blocks, so output and
    logits are bit-identical with and without the cache, in bfloat16 too;
    batches of several rows bypass it.
    ``prefix_cache=False`` turns it off, ``prefix_cache=PrefixCache(max_entries=...,
    max_bytes=...)`` sizes it, ``llm.prefix_cache.stats()`` shows its hits.

    Drafted tokens (``prompt_lookup=8``, the default): one-row greedy
    requests guess up to 8 next tokens (what followed the same words earlier
    in the prompt, and the text a grammar forces in a tool call) and check
    them in one forward pass (:mod:`augment.llm.lookahead`); the output is the
    greedy output, in fewer passes. ``prompt_lookup=0`` decodes one token a
    pass. In float32 on CPU only the grammar's forced text is drafted
    (``llm.prompt_guesses`` is False there: a pass over n tokens costs about
    n passes over one, so guesses lose more than they save). Sampled requests and batches use ``generate``.

    4-bit decode (``packed_decode=True``, the default): a bfloat16 or float32 model on
    CPU whose layer weights are exactly 4-bit values in groups of 32 (the
    embedded default, shipped as a Q4_1 GGUF) decodes on a packed int4 copy of
    them, a quarter of the bytes per token in bfloat16, an eighth in float32
    (:mod:`augment.llm.packed`); prefill keeps the model's own weights. ``llm.packed_layers`` says how many
    layers do; ``packed_decode=False`` turns it off.

    Fast decode (``fast_decode=True``, the default): on CPU, the passes of a
    one-row greedy reply of a Llama-family model run in plain torch
    (:mod:`augment.llm.fastdecode`): keys and values in buffers written in
    place, packed projections joined, none of transformers' per-call wrappers.
    Same layers and adapters; only attention's summation order differs from
    ``model(...)``. ``fast_decode=False`` runs every pass through ``model(...)``.

    Thread safety: generate calls and adapter switches are serialised by a lock.
    """

    def __init__(self, model: Any, tokenizer: Any, *, model_name: str | None = None, device: str | None = None,
                 context_window: int | None = None, truncation: str = "error", prefix_cache: bool | PrefixCache = True,
                 prompt_lookup: int = 8, packed_decode: bool = True, fast_decode: bool = True):
        if truncation not in ("error", "left"):
            raise ConfigError(f"truncation={truncation!r}; use 'error' (raise ContextLengthError) or 'left'")
        if not isinstance(prefix_cache, (bool, PrefixCache)):
            raise ConfigError(f"prefix_cache={prefix_cache!r}; use True (the default), False or a PrefixCache(...)")
        #: the KV cache of recent prompts, reused by longest common token prefix (None: off)
        self.prefix_cache: PrefixCache | None = PrefixCache() if prefix_cache is True else (
            prefix_cache if isinstance(prefix_cache, PrefixCache) else None)
        if not isinstance(prompt_lookup, int) or isinstance(prompt_lookup, bool) or prompt_lookup < 0:
            raise ConfigError(f"prompt_lookup={prompt_lookup!r}; give the most tokens to draft per pass (8, the "
                              "default), or 0 to decode one token per pass")
        #: prefill blocks (see above): 64 tokens up to 256, then 256 (a size, or sizes whose last one repeats);
        #: a prefix is reused in whole blocks. Measured on the default model, 2 cores: 1,085 tokens in blocks
        #: of 64 took 2.1 s in bf16 and 3.7 s in float32, in blocks of 256 1.4 s and 2.7 s (one pass: 1.7 / 2.1 s).
        #: On CPU the blocks still to compute now run as one pass with attention block by block (same bits,
        #: see :func:`augment.llm.kvcache.prefill_blocks`): this schedule 1.17 s bf16, 1.75 s float32 (AVX512
        #: EPYC), 2.35 s against 2.9-3.1 s block by block in float32 on an AVX2-only EPYC
        self.prefill_block: int | tuple[int, ...] = (64, 64, 64, 64, 256)
        #: most drafted tokens checked per forward pass in one-row greedy decoding (0: off)
        self.prompt_lookup = prompt_lookup
        self.model = model
        self.tokenizer = tokenizer
        self.device = str(device or getattr(model, "device", "cpu"))
        #: draft guesses from the prompt (prompt lookup), besides the text a grammar forces. Off for float32
        #: on CPU, where a pass over n tokens costs about n passes over one (float32 F.linear: 69 us for one
        #: row, 137 for two on the default model's shapes), so a wrong guess costs more than a right one
        #: saves: measured there, a RAG turn took 8.8-9.8 s without guesses against 9.2-11.6 s with, a 4-step
        #: agent run 10.6 against 12.4 s, same output
        self.prompt_guesses = not (self.device.startswith("cpu") and str(getattr(model, "dtype", "")) == "torch.float32")
        self.model_name = model_name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.context_window = context_window or self._detect_context_window()
        self.truncation = truncation
        self._lock = threading.RLock()
        self._active_adapter = None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not self.is_seq2seq:
            tokenizer.padding_side = "left"
        eos = getattr(model.generation_config, "eos_token_id", None)
        eos = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
            eos.append(tokenizer.eos_token_id)
        self._eos_ids = eos
        self.model.eval()
        if not self.is_seq2seq:
            _hf.use_fast_cpu_attention(self.model)
        #: linear layers that decode on their packed 4-bit weights (see above; 0: none)
        self.packed_layers = 0
        if packed_decode:
            from augment.llm.packed import pack_4bit_linears

            self.packed_layers = pack_4bit_linears(self.model)
        #: one-row greedy replies decode through :class:`~augment.llm.fastdecode.FastDecoder` where the
        #: model is a Llama-family model on CPU (False: every pass through ``model(...)``)
        self.fast_decode = fast_decode
        self._fast: Any = None

    def _fast_decoder(self) -> Any:
        """The :class:`~augment.llm.fastdecode.FastDecoder` of the current model, or None (off, or not supported)."""
        if not self.fast_decode:
            return None
        if self._fast is None or self._fast[0] is not self.model:
            from augment.llm.fastdecode import FastDecoder

            self._fast = (self.model, FastDecoder.build(self.model))
        return self._fast[1]

    # ---- loading --------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str | os.PathLike, *, dtype: Any = None, device: Any = None,
                        local_files_only: bool = True, model_name: str | None = None,
                        trust_remote_code: bool = False, **kwargs: Any) -> "TransformersLLM":
        """Load a folder or a hub id from the local cache (``local_files_only``), causal or seq2seq.

        ``dtype``: ``None``/"auto" (bf16 on CPUs with native bf16, else fp32;
        bf16 on CUDA) or a dtype name; ``device``: "cpu", "cuda", "mps" or None
        (the best available). Other keyword arguments go to the constructor.
        """
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        dev = _hf.resolve_device(device)
        torch_dtype = _hf.resolve_dtype(dtype, dev)
        src = str(source)
        common = {"local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
        if Path(src).is_dir() and not (Path(src) / "config.json").is_file():
            raise ModelNotFoundError(
                f"the folder {src} holds no config.json: pass a transformers model folder (saved with "
                "save_pretrained), a .gguf file, or 'hf:ORG/NAME' for a model in the local Hugging Face cache"
            )
        try:
            config = AutoConfig.from_pretrained(src, **common)
        except ValueError as e:
            raise ModelLoadError(f"{src!r} is not a model transformers can read: {str(e).splitlines()[0][:300]}") from e
        except OSError as e:
            where = "folder" if Path(src).exists() else "hub id in the local cache"
            raise ModelNotFoundError(
                f"no model found for {src!r} ({where}): {str(e).splitlines()[0][:200]}. Pass a folder with "
                "config.json, a .gguf file, or download the hub model first (`huggingface-cli download ORG/NAME` "
                "on a machine with network) and load it as 'hf:ORG/NAME'"
            ) from e
        auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        try:
            _hf.freeze_import_heap()  # the libraries imported by now, not the model (see there)
            tokenizer = AutoTokenizer.from_pretrained(src, **common)
            model = auto.from_pretrained(src, dtype=torch_dtype, **common)
        except (OSError, ValueError, RuntimeError) as e:
            raise ModelLoadError(f"could not load the model {src!r}: {str(e).splitlines()[0][:300]}") from e
        model.to(dev)
        return cls(model, tokenizer, model_name=model_name or Path(src).name or src, device=dev, **kwargs)

    def _detect_context_window(self) -> int:
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        limit = getattr(self.tokenizer, "model_max_length", None)
        return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 512

    def clear_prefix_cache(self) -> None:
        """Drop the kept KV caches (they are also keyed by the weights, so a changed model never reuses them)."""
        if self.prefix_cache is not None:
            self.prefix_cache.clear()

    # ---- prompts --------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_prompt(self, messages: MessagesLike, tools: Any = None, **_: Any) -> str:
        """The exact text the model sees for ``messages`` (with ``tools`` described when given)."""
        return _hf.render_prompt(self.tokenizer, normalize_messages(messages), normalize_tools(tools))

    def count_tokens(self, text: str) -> int:
        """Exact number of tokens of ``text`` for this tokenizer."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---- generation -----------------------------------------------------
    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        return self.generate_batch([messages], options)[0]

    def generate_batch(self, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
        if self._constrained(options):
            from augment.llm.constrained import constrained_generate

            return constrained_generate(self, conversations, options)
        prompts = [self.render_prompt(c) for c in conversations]
        return [self._to_completion(g, options) for g in self._generate_ids(prompts, options)]

    def generate_stream(self, messages: list[Message], options: GenerateOptions) -> Iterator[StreamItem]:
        if self._constrained(options):
            yield from super().generate_stream(messages, options)
            return
        from transformers import TextIteratorStreamer

        prompt = self.render_prompt(messages)
        enc, max_new = self._encode([prompt], options.max_tokens)  # errors surface here, before the thread
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop_event = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["gen"] = self._run(enc, max_new, options, streamer=streamer, stop_event=stop_event)[0]
            except BaseException as e:  # re-raised in the consumer
                result["error"] = e
                streamer.text_queue.put(streamer.stop_signal)

        worker = threading.Thread(target=run, daemon=True, name="augment-generate")
        worker.start()
        text, emitted = "", 0
        try:
            for chunk in streamer:
                text += chunk
                cut = _hf.find_stop(text, options.stop)
                safe = cut if cut is not None else len(text) - _hf.stop_holdback(text, options.stop)
                if safe > emitted:
                    yield text[emitted:safe]
                    emitted = safe
                if cut is not None:
                    stop_event.set()
                    break
            worker.join()
        finally:
            stop_event.set()
            if worker.is_alive():
                for _ in streamer:  # drain so generate can finish
                    pass
                worker.join()
        if "error" in result:
            raise result["error"]
        completion = self._to_completion(result["gen"], options)
        if len(completion.text) > emitted and completion.text.startswith(text[:emitted]):
            yield completion.text[emitted:]
        yield completion

    def score_continuations(self, messages: list[Message], continuations: list[str], **options: Any) -> list[Any]:
        from augment.llm.scoring import score_local

        return score_local(self, messages, continuations, **options)

    def _constrained(self, options: GenerateOptions) -> bool:
        # tool_choice="none" with tools is constrained too: to the final-answer text, never a call
        return bool(options.tools or options.response_format)

    def _encode(self, prompts: list[str], max_tokens: int) -> tuple[Any, int]:
        """Tokenize and pad ``prompts``; enforce the context window; return ``(batch, max_new_tokens)``."""
        add_special = not self.has_chat_template  # a rendered template already holds its special tokens
        rows = [self.tokenizer(p, add_special_tokens=add_special)["input_ids"] for p in prompts]
        window = self.context_window
        for i, ids in enumerate(rows):
            limit = window if self.is_seq2seq else window - 1
            if len(ids) <= limit:
                continue
            if self.truncation == "error":
                raise ContextLengthError(
                    f"the prompt has {len(ids)} tokens but {self.model_name} holds {window} (context window)"
                    f"{' minus 1 token to generate' if not self.is_seq2seq else ''}; shorten the conversation, "
                    "or load the model with truncation='left' to drop the oldest tokens"
                )
            keep = window if self.is_seq2seq else window - min(max_tokens, window // 2)
            warnings.warn(f"prompt of {len(ids)} tokens truncated from the left to {keep} tokens "
                          f"(context window {window})", stacklevel=4)
            rows[i] = ids[-keep:]
        max_new = max_tokens
        if not self.is_seq2seq:
            max_new = max(1, min(max_tokens, window - max(len(r) for r in rows)))
        batch = self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
        return batch.to(self.device), max_new

    def _generation_config(self, options: GenerateOptions, max_new: int) -> Any:
        cfg = copy.deepcopy(self.model.generation_config)
        sample = options.do_sample
        cfg.update(
            max_new_tokens=max_new, max_length=None, min_new_tokens=None, do_sample=sample,
            temperature=options.temperature if sample else None, top_p=options.top_p if sample else None,
            top_k=0 if sample else None, num_beams=1, eos_token_id=self._eos_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return cfg

    def _generate_ids(self, prompts: list[str], options: GenerateOptions, logits_processor: Any = None,
                      streamer: Any = None) -> list[Generated]:
        """Run HF ``generate`` once on rendered ``prompts`` (left-padded batch); one :class:`Generated` per prompt.

        ``logits_processor`` (a ``LogitsProcessorList`` or list) is passed to
        ``generate``: constrained decoding plugs in here. Honours the
        options' max_tokens, temperature/top_p/seed, stop strings and adapter.
        """
        enc, max_new = self._encode(prompts, options.max_tokens)
        return self._run(enc, max_new, options, logits_processor=logits_processor, streamer=streamer)

    def _run(self, enc: Any, max_new: int, options: GenerateOptions, logits_processor: Any = None,
             streamer: Any = None, stop_event: threading.Event | None = None) -> list[Generated]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        kwargs: dict[str, Any] = {"generation_config": self._generation_config(options, max_new)}
        if options.stop:
            kwargs["generation_config"].stop_strings = list(options.stop)
            kwargs["tokenizer"] = self.tokenizer
        if logits_processor is not None:
            kwargs["logits_processor"] = LogitsProcessorList(list(logits_processor))
        if stop_event is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_EventStop(stop_event)])
        if streamer is not None:
            kwargs["streamer"] = streamer
        one_row = enc["input_ids"].shape[0] == 1 and not self.is_seq2seq
        with self._lock, self._adapter_scope(options.adapter), torch.inference_mode():
            if one_row:  # prefilled in fixed blocks, cache or not, so that reusing blocks changes nothing
                cache = self.prefix_cache
                key = None if cache is None else weights_key(
                    self.model, options.adapter if options.adapter is not None else self._active_adapter)
                tokens = enc["input_ids"][0].tolist()
                past = block_prefill(self.model, tokens, self.prefill_block, cache, key)
                if not options.do_sample and self._plain_cache():
                    return [self._greedy(tokens, past, max_new, options, logits_processor, streamer, stop_event)]
                if past is not None:
                    kwargs[cache_kwarg()] = past
                    kwargs["generation_config"].update(use_cache=True)
            with torch.random.fork_rng(devices=[]) if options.seed is not None else contextlib.nullcontext():
                if options.seed is not None:
                    torch.manual_seed(options.seed)
                out = self.model.generate(**enc, **kwargs)
        prompt_counts = enc["attention_mask"].sum(dim=1).tolist()
        new = out[:, 1:] if self.is_seq2seq else out[:, enc["input_ids"].shape[1]:]
        results = []
        eos, pad = set(self._eos_ids), self.tokenizer.pad_token_id
        for row, n_prompt in zip(new.tolist(), prompt_counts):
            ids, hit = [], False
            for t in row:
                if t in eos:
                    hit = True
                    break
                ids.append(t)
            if not hit:
                while ids and ids[-1] == pad:
                    ids.pop()
            results.append(Generated(ids, int(n_prompt), hit, max_new))
        return results

    def _plain_cache(self) -> bool:
        """Whether this model's cache is plain full attention (one ``DynamicLayer`` a layer): croppable."""
        plain = self.__dict__.get("_plain")
        if plain is None:
            from transformers import DynamicCache
            from transformers.cache_utils import DynamicLayer

            layers = getattr(DynamicCache(config=self.model.config), "layers", None) or []
            plain = self.__dict__["_plain"] = bool(layers) and all(type(layer) is DynamicLayer for layer in layers)
        return plain

    def _greedy(self, tokens: list[int], past: Any, max_new: int, options: GenerateOptions, logits_processor: Any,
                streamer: Any, stop_event: threading.Event | None) -> Generated:
        """One row, greedy, with prompt-lookup drafts (:mod:`augment.llm.lookahead`); caller holds the lock."""
        import torch
        from transformers import DynamicCache

        from augment.llm.lookahead import PromptLookup, greedy_decode

        processors = list(logits_processor or [])
        drafter = None
        if self.prompt_lookup > 0:
            guess = PromptLookup().draft if self.prompt_guesses else None
            drafter = guess
            for p in processors:  # a grammar knows text that is forced next: draft that first
                extend = getattr(p, "draft_with", None)
                if extend is not None:
                    drafter = extend(guess or (lambda seq, limit: []), self.tokenizer)
        cached = 0 if past is None else past.get_seq_length()
        if past is None:
            past = DynamicCache(config=self.model.config)
        if streamer is not None:
            streamer.put(torch.tensor([tokens]))

        def stop(new: list[int]) -> bool:
            if stop_event is not None and stop_event.is_set():
                return True
            return bool(options.stop) and _hf.find_stop(self.tokenizer.decode(new, skip_special_tokens=True),
                                                        options.stop) is not None

        put = None if streamer is None else (lambda t: streamer.put(torch.tensor([t])))
        try:
            ids, hit = greedy_decode(self.model, past, tokens, cached, max_new, set(self._eos_ids),
                                     cache_kw=cache_kwarg(), processors=processors, drafter=drafter,
                                     max_draft=self.prompt_lookup, on_token=put, should_stop=stop,
                                     fast=self._fast_decoder())
        finally:
            if streamer is not None:
                streamer.end()
        return Generated(ids, len(tokens), hit, max_new)

    def _to_completion(self, gen: Generated, options: GenerateOptions) -> Completion:
        """Decode a :class:`Generated`, cut at the first stop string, set finish_reason and usage."""
        text = self.tokenizer.decode(gen.ids, skip_special_tokens=True)
        cut = _hf.find_stop(text, options.stop)
        if cut is not None:
            text, finish = text[:cut], "stop"
        elif gen.hit_eos or len(gen.ids) < gen.max_new_tokens:
            finish = "stop"
        else:
            finish = "length"
        used = len(gen.ids) + (1 if gen.hit_eos else 0)
        return Completion(text, finish_reason=finish, usage=Usage(gen.prompt_tokens, used), model=self.model_name)

