"""LoRA / PEFT adapters on a local model: load, switch (globally or per request), merge.

Mixed into :class:`augment.llm.transformers.TransformersLLM`; see its docstring.

Example::

    llm = load_llm()                                  # or load_llm(adapter="runs/lora")
    llm.load_adapter("runs/lora-support", "support")  # becomes the active adapter
    llm.complete("Hi").text                           # uses 'support'
    llm.complete("Hi", adapter="other")               # another loaded adapter, for this call only
    llm.set_adapter(None)                             # the base model again
    llm.merge("support")                              # fold it into the weights (adapters are dropped)
"""

from __future__ import annotations

import contextlib
import warnings
import json
import os
from pathlib import Path
from typing import Any, Iterator

from augment.errors import AdapterError, MissingDependencyError, ModelNotFoundError

__all__ = ["AdapterMixin", "check_adapter_fits"]


def _peft():
    try:
        import peft
    except ImportError as e:
        raise MissingDependencyError("peft", "pip install peft", purpose="LoRA adapters") from e
    return peft


def check_adapter_fits(model: Any, path: Path) -> None:
    """Raise :class:`AdapterError` before touching ``model`` when the adapter's tensors do not fit it."""
    files = [path / "adapter_model.safetensors"]
    if not files[0].is_file():
        return  # .bin adapters are checked by PEFT itself while loading
    from safetensors import safe_open

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    with safe_open(str(files[0]), framework="pt") as f:
        for key in f.keys():
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            part = "lora_A" if ".lora_A." in key else "lora_B"
            module_path = key.split(f".{part}.")[0].removeprefix("base_model.model.")
            try:
                module = base.get_submodule(module_path)
            except AttributeError:
                raise AdapterError(_mismatch(path, f"this model has no module '{module_path}'")) from None
            module = getattr(module, "base_layer", module)
            shape = f.get_slice(key).get_shape()
            want_in = getattr(module, "in_features", None)
            want_out = getattr(module, "out_features", None)
            if part == "lora_A" and want_in is not None and shape[-1] != want_in:
                raise AdapterError(_mismatch(path, f"'{module_path}' takes {want_in} inputs, the adapter {shape[-1]}"))
            if part == "lora_B" and want_out is not None and shape[0] != want_out:
                raise AdapterError(_mismatch(path, f"'{module_path}' has {want_out} outputs, the adapter {shape[0]}"))


def _mismatch(path: Path, detail: str) -> str:
    base = "another model"
    try:
        base = repr(json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path") or base)
    except (OSError, ValueError):
        pass
    return (f"the adapter {path} was trained for {base}, not for this model ({detail}); "
            "load it on its own base model, or train an adapter for this one")


class AdapterMixin:
    """Adapter management for a model held in ``self.model`` guarded by ``self._lock``."""

    model: Any
    _active_adapter: str | None = None
    #: the adapter whose weights are currently folded into the base weights (see :meth:`_fuse`)
    _fused: str | None = None

    @property
    def adapters(self) -> list[str]:
        """Names of the loaded adapters."""
        cfg = getattr(self.model, "peft_config", None)
        return list(cfg) if isinstance(cfg, dict) else []

    @property
    def active_adapter(self) -> str | None:
        """The adapter used by default (``None``: the base model)."""
        return self._active_adapter

    def load_adapter(self, path: str | os.PathLike, name: str | None = None, *, activate: bool = True) -> str:
        """Load a PEFT/LoRA adapter folder (``adapter_config.json`` + weights) as ``name``; return the name.

        It becomes the active adapter unless ``activate=False``. An adapter
        trained for another base model raises :class:`AdapterError` and leaves
        this model untouched.
        """
        path = Path(path).expanduser()
        if not (path / "adapter_config.json").is_file():
            raise ModelNotFoundError(
                f"no adapter at {path}: expected a folder with adapter_config.json (saved by PEFT's "
                "save_pretrained or `augment finetune --method lora`)"
            )
        name = name or path.name
        if name in self.adapters:
            raise AdapterError(f"an adapter named {name!r} is already loaded; pick another name")
        peft = _peft()
        with self._lock:
            check_adapter_fits(self.model, path)
            try:
                if isinstance(self.model, peft.PeftModel):
                    self.model.load_adapter(str(path), adapter_name=name)
                else:
                    with warnings.catch_warnings():  # PEFT asks transformers' deprecated is_gradient_checkpointing
                        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                        self.model = peft.PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            except (RuntimeError, ValueError, KeyError) as e:
                raise AdapterError(_mismatch(path, str(e).splitlines()[0][:200])) from e
            self.model.eval()
            self.__dict__["_layers_enabled"] = None  # new layers start enabled: set again on the next request
            if activate:
                self._switch(name)
        return name

    def set_adapter(self, name: str | None) -> None:
        """Make ``name`` the active adapter; ``None`` uses the base model."""
        with self._lock:
            self._switch(name)

    def _switch(self, name: str | None) -> None:
        if name is not None:
            self._check_name(name)
            self._fuse(name)
        self._active_adapter = name

    def _fuse(self, name: str | None) -> None:
        """Fold adapter ``name`` into the base weights (``None``: unfold), reversibly.

        A LoRA layer that is not folded costs two extra small matmuls per
        linear layer per token (210 adapted layers on the 135M default model).
        Folded, an adapter runs at the base model's speed. Each request folds
        in the adapter it uses (its own ``adapter=``, else the active one) and
        a request on the base model unfolds it; switching costs 0.1-0.16 s for the
        default model's rank-8 adapter (2 cores; the first fold more, see
        :meth:`_own_weights`), and the weights stay as the last request left them.
        """
        if name == self._fused:
            return
        if self._fused is not None:
            with warnings.catch_warnings():  # PEFT warns for layers a later-loaded adapter left unmerged
                warnings.simplefilter("ignore", UserWarning)
                self.model.unmerge_adapter()
            for weight, saved in self._base_weights().values():
                weight.data.copy_(saved)  # exact: W + BA - BA is not W in bfloat16 (see _snapshot)
            self._fused = None
            self._packed_sides(None)
        if name is not None:
            self.model.set_adapter(name)
            self._own_weights()
            self._snapshot()
            self.model.merge_adapter(adapter_names=[name])
            self._fused = name
            self._packed_sides(name)

    def _packed_sides(self, name: str | None) -> None:
        """Layers that decode on packed 4-bit base weights add the folded adapter beside them (:mod:`augment.llm.packed`)."""
        if not getattr(self, "packed_layers", 0):
            return
        from augment.llm.packed import set_side

        for module in self.model.modules():
            if hasattr(module, "base_layer"):
                set_side(module, name)

    def _base_weights(self) -> dict[int, tuple[Any, Any]]:
        store = self.__dict__.get("_saved_base")
        if store is None:
            store = self.__dict__["_saved_base"] = {}
        return store

    def _adapted_base_weights(self) -> Iterator[tuple[Any, Any]]:
        """``(PEFT layer, its base layer's weight)`` for each adapted layer of the model."""
        for module in self.model.modules():
            weight = getattr(getattr(module, "base_layer", None), "weight", None)
            if hasattr(module, "merged_adapters") and weight is not None:
                yield module, weight

    def _own_weights(self) -> None:
        """Copy the adapted layers' base weights that still lie in a mapped file into process memory, once.

        Transformers maps a safetensors file into memory and the weights point into
        it; the first fold writes them in place, which copies them page by page on
        write (4 KiB at a time, each a page fault). Measured on the default model, 2
        cores: the first fold took 1.5-1.65 s, later ones 0.16 s; copying the 210
        weights first takes 0.3 s and the fold then 0.19 s (a saving of about 1 s on
        the first request that uses an adapter: an agent's or RAG's first step).
        The weights keep their tensors' identity (``.data`` is swapped, the version
        counter kept), so packed 4-bit copies stay valid. Linux only (it reads
        ``/proc/self/maps``); elsewhere, or for weights not in a file, nothing is done.
        """
        if self.__dict__.get("_owned"):
            return
        self.__dict__["_owned"] = True
        mapped = _file_mapped_ranges()
        if not mapped:
            return
        import bisect

        import torch

        starts = [lo for lo, _ in mapped]
        with torch.no_grad():
            for _, weight in self._adapted_base_weights():
                if weight.device.type != "cpu":
                    continue
                ptr = weight.data_ptr()
                i = bisect.bisect_right(starts, ptr) - 1
                if i >= 0 and ptr < mapped[i][1]:
                    weight.data = weight.data.clone()

    def _snapshot(self) -> None:
        """Keep a copy of each adapted layer's base weight when the model is not in float32.

        Folding adds B@A to a weight and unfolding subtracts it; in bfloat16 or
        float16 that round trip rounds every element, so switching adapters
        would drift the base model a little each time (greedy answers change
        after a few switches). The copy costs one more set of the adapted
        weights' memory and makes unfolding exact. In float32 the round trip
        errs by about 1e-7 relative, and no copy is kept.
        """
        store = self._base_weights()
        for module, weight in self._adapted_base_weights():
            if weight.dtype.itemsize < 4 and id(module) not in store:
                store[id(module)] = (weight, weight.detach().clone())

    def _check_name(self, name: str) -> None:
        if name not in self.adapters:
            loaded = ", ".join(self.adapters) or "none"
            raise AdapterError(f"no adapter named {name!r} (loaded: {loaded}); load it with llm.load_adapter(path, {name!r})")

    def merge(self, name: str | None = None) -> "AdapterMixin":
        """Fold adapter ``name`` (default: the active one) into the base weights.

        Afterwards ``self.model`` is a plain model again and every loaded
        adapter is dropped (they were trained against the unmerged weights).
        """
        with self._lock:
            name = name or self._active_adapter
            if name is None:
                raise AdapterError("nothing to merge: no adapter is active; pass merge(name) or load one first")
            self._check_name(name)
            self._fuse(None)
            self._adapter_layers(True)
            self.model = self.model.merge_and_unload(adapter_names=[name])
            if getattr(self, "packed_layers", 0):  # the weights are no longer 4-bit values
                from augment.llm.packed import unpack_4bit_linears

                unpack_4bit_linears(self.model)
                self.packed_layers = 0
            self._base_weights().clear()
            self.__dict__["_layers_enabled"] = None
            self.model.eval()
            self._active_adapter = None
        return self

    @contextlib.contextmanager
    def _adapter_scope(self, requested: str | None) -> Iterator[None]:
        """Apply the request's adapter (or the active one) for one generate call; caller holds the lock."""
        if requested is not None:
            self._check_name(requested)
        name = requested if requested is not None else self._active_adapter
        if not self.adapters:
            yield
            return
        if name is None:
            self._fuse(None)
            self._adapter_layers(False)
            yield
            return
        self._adapter_layers(True)  # a folded layer must be enabled: PEFT unfolds disabled ones as it runs
        self._fuse(name)  # folded in until a request needs other weights (a few ms to switch)
        yield

    def _adapter_layers(self, enabled: bool) -> None:
        """Switch the adapter layers on or off, and leave them so (PEFT's ``disable_adapter()`` context
        re-reads the whole model's status on every call: about 45 ms a request on the default model)."""
        if self.__dict__.get("_layers_enabled") is enabled:
            return
        from peft.tuners.tuners_utils import BaseTunerLayer

        # the flag PEFT's own switches set; they also re-activate (and so unfold) a folded adapter
        for module in self.model.modules():
            if isinstance(module, BaseTunerLayer):
                module._disable_adapters = not enabled
        self.__dict__["_layers_enabled"] = enabled


def _file_mapped_ranges() -> list[tuple[int, int]]:
    """Sorted ``(start, end)`` address ranges of this process's memory mapped from files (Linux), else []."""
    ranges = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].startswith("/") and parts[4] != "0":  # a path and an inode
                    lo, hi = parts[0].split("-")
                    ranges.append((int(lo, 16), int(hi, 16)))
    except OSError:
        return []
    return sorted(ranges)
