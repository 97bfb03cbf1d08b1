"""Step 3 of fine-tuning: choose which parameters train, through one interface.

``apply_method(model, method, task=..., **options)`` returns the model to
train (PEFT methods wrap it) and a :class:`MethodInfo` with the trainable
parameter count and share.

======================  =====================================================
method                  what trains (options)
======================  =====================================================
``"full"``              every parameter
``"lora"``              low-rank updates via PEFT (``r``, ``alpha``, ``dropout``,
                        ``target_modules``; defaults per architecture in
                        :data:`LORA_TARGETS`) + the task head
``"prompt_tuning"``     soft prompt vectors via PEFT (``num_virtual_tokens``,
                        ``init_text``) + the task head
``"bitfit"``            only bias terms + the task head. Llama-style models have
                        no biases: BitFit then *adds* zero-initialised biases to
                        the attention and MLP projections (setting the config's
                        ``attention_bias``/``mlp_bias`` so the saved model reloads)
                        and says so in ``MethodInfo.notes``; ``add_biases=False``
                        raises instead. Other bias-free models raise ConfigError.
``"adapter"``           bottleneck adapters after attention and FFN blocks
                        (``bottleneck``, ``activation``, ``target_modules``) + the task head
======================  =====================================================

>>> METHODS
('full', 'lora', 'prompt_tuning', 'bitfit', 'adapter')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from augment.errors import ConfigError, MissingDependencyError

__all__ = ["METHODS", "TASKS", "LORA_TARGETS", "MethodInfo", "apply_method", "count_parameters", "head_names"]

METHODS = ("full", "lora", "prompt_tuning", "bitfit", "adapter")
TASKS = ("instruct", "chat", "classify", "token_classify", "seq2seq")
PEFT_TASK = {"instruct": "CAUSAL_LM", "chat": "CAUSAL_LM", "classify": "SEQ_CLS", "token_classify": "TOKEN_CLS", "seq2seq": "SEQ_2_SEQ_LM"}

LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
    "gpt2": ["c_attn", "c_proj"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "t5": ["q", "v"],
    "bart": ["q_proj", "v_proj"],
}
# task heads that train with every method (for classification tasks)
HEAD_NAMES = ("classifier", "score", "pre_classifier", "qa_outputs")
# architectures whose config can declare projection biases (BitFit adds them)
_BIAS_FLAGS = {"llama": (("attention_bias", ("q_proj", "k_proj", "v_proj", "o_proj")), ("mlp_bias", ("gate_proj", "up_proj", "down_proj")))}

_OPTIONS = {
    "full": set(),
    "lora": {"r", "alpha", "dropout", "target_modules", "bias"},
    "prompt_tuning": {"num_virtual_tokens", "init_text"},
    "bitfit": {"add_biases"},
    "adapter": {"bottleneck", "activation", "target_modules"},
}


@dataclass
class MethodInfo:
    """Which method was applied and how many parameters train.

    >>> str(MethodInfo("lora", "instruct", trainable=10, total=1000))
    'lora: 10 of 1,000 parameters train (1.000%)'
    """

    method: str
    task: str
    trainable: int
    total: int
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Trainable parameters as a fraction of all parameters."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.method}: {self.trainable:,} of {self.total:,} parameters train ({100 * self.share:.3f}%)"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "task": self.task, "trainable": self.trainable, "total": self.total,
                "share": self.share, "options": self.options, "notes": self.notes}


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def head_names(model: Any, task: str) -> list[str]:
    """Names of the task-head modules (classification heads); none for generation tasks."""
    if task in ("instruct", "chat", "seq2seq"):
        return []
    return [n for n, _ in model.named_children() if n in HEAD_NAMES]


def _model_type(model: Any) -> str:
    return getattr(getattr(model, "config", None), "model_type", "") or ""


def apply_method(model: Any, method: str = "lora", *, task: str = "instruct", **options: Any) -> tuple[Any, MethodInfo]:
    """Prepare ``model`` for ``method``; returns (model to train, info). PEFT methods return a PeftModel."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise ConfigError(f"method {method!r} has no option(s) {sorted(unknown)}; its options are {sorted(_OPTIONS[method]) or 'none'}")
    notes: list[str] = []
    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif method in ("lora", "prompt_tuning"):
        model = _apply_peft(model, method, task, options, notes)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        if method == "bitfit":
            _apply_bitfit(model, options.get("add_biases"), notes)
        else:
            from augment.finetune.bottleneck import add_bottleneck_adapters

            names = add_bottleneck_adapters(
                model, bottleneck=int(options.get("bottleneck", 64)), activation=options.get("activation", "gelu"),
                target_modules=options.get("target_modules"),
            )
            notes.append(f"inserted {len(names)} bottleneck adapters (size {options.get('bottleneck', 64)})")
            for p in model.augment_adapters.parameters():
                p.requires_grad_(True)
        for name in head_names(model, task):
            for p in getattr(model, name).parameters():
                p.requires_grad_(True)
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise ConfigError(f"method {method!r} left no trainable parameter in this model; check its options")
    return model, MethodInfo(method, task, trainable, total, dict(options), notes)


def _apply_peft(model: Any, method: str, task: str, options: dict, notes: list[str]) -> Any:
    try:
        import peft
    except ImportError as e:  # pragma: no cover - peft is a core dependency
        raise MissingDependencyError("peft", purpose=f"method={method!r}") from e
    task_type = PEFT_TASK[task]
    if method == "lora":
        targets = options.get("target_modules") or LORA_TARGETS.get(_model_type(model)) or "all-linear"
        if targets == "all-linear":
            notes.append(f"no LoRA default for model type {_model_type(model)!r}: targeting all linear layers")
        config = peft.LoraConfig(
            task_type=task_type, r=int(options.get("r", 8)), lora_alpha=int(options.get("alpha", 16)),
            lora_dropout=float(options.get("dropout", 0.05)), target_modules=targets, bias=options.get("bias", "none"),
        )
        notes.append(f"LoRA r={config.r} alpha={config.lora_alpha} on {sorted(targets) if not isinstance(targets, str) else targets}")
    else:
        init_text = options.get("init_text")
        kw: dict[str, Any] = {}
        if init_text:
            kw = {"prompt_tuning_init": peft.PromptTuningInit.TEXT, "prompt_tuning_init_text": init_text,
                  "tokenizer_name_or_path": getattr(model.config, "_name_or_path", None)}
        config = peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=int(options.get("num_virtual_tokens", 16)), **kw)
        notes.append(f"{config.num_virtual_tokens} virtual prompt tokens")
    try:
        return peft.get_peft_model(model, config)
    except ValueError as e:
        raise ConfigError(f"PEFT could not apply {method!r} to this {_model_type(model) or 'model'}: {e}") from e


def _apply_bitfit(model: Any, add_biases: bool | None, notes: list[str]) -> None:
    import torch

    biases = [p for n, p in model.named_parameters() if n.endswith(".bias") or n == "bias"]
    if not biases:
        flags = _BIAS_FLAGS.get(_model_type(model))
        if flags is None or add_biases is False:
            why = "add_biases=False was given" if add_biases is False else f"augment cannot add biases to a {_model_type(model) or 'this'} model"
            raise ConfigError(
                f"BitFit trains only bias terms, but this model has none ({why}); use method='lora' or 'adapter', "
                "or for Llama-style models leave add_biases unset so zero biases are added"
            )
        added = 0
        for flag, proj_names in flags:
            setattr(model.config, flag, True)
            for name, module in model.named_modules():
                if name.rsplit(".", 1)[-1] in proj_names and isinstance(module, torch.nn.Linear) and module.bias is None:
                    w = module.weight
                    module.bias = torch.nn.Parameter(torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
                    added += 1
        notes.append(
            f"this {_model_type(model)} model has no bias terms: BitFit added {added} zero-initialised biases to the "
            "attention and MLP projections (config attention_bias/mlp_bias set) and trains only those"
        )
        biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    for p in biases:
        p.requires_grad_(True)
