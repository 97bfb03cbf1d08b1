"""Fine-tuning: prepare data, pick a method, train, save, reload; preference tuning (DPO).

>>> from augment.finetune import split_data, METHODS
>>> METHODS
('full', 'lora', 'prompt_tuning', 'bitfit', 'adapter')

The four steps:

1. data: :func:`load_data`, :func:`split_data`, :func:`summarize`, ``format_*``;
2. model: :func:`load_model_for_task` (default SmolLM2 / MiniLM, a folder, a GGUF);
3. train: :func:`apply_method` + :func:`train`, or everything at once with :func:`finetune`;
   :func:`train_dpo` for preference pairs (e.g. from a :class:`~augment.feedback.FeedbackLog`);
4. use: :func:`load_finetuned`, or ``load_llm(base, adapter=out)`` for LoRA outputs.

Submodules import torch; this package imports them only when a name is used.
"""

from __future__ import annotations

from augment._lazy import lazy_attributes

_LAZY = {
    "load_data": "data", "split_data": "data", "Splits": "data", "summarize": "data", "DataSummary": "data",
    "format_instruction": "formatting", "format_classification": "formatting",
    "format_token_classification": "formatting", "format_seq2seq": "formatting",
    "format_preference": "formatting", "collate": "formatting", "Formatted": "formatting",
    "instruction_prompt": "formatting",
    "METHODS": "methods", "TASKS": "methods", "LORA_TARGETS": "methods", "MethodInfo": "methods",
    "apply_method": "methods", "count_parameters": "methods",
    "BottleneckAdapter": "bottleneck", "add_bottleneck_adapters": "bottleneck",
    "TrainConfig": "trainer", "TrainResult": "trainer", "train": "trainer",
    "finetune": "tasks", "FinetuneResult": "tasks", "format_task": "tasks",
    "load_model_for_task": "io", "save_finetuned": "io", "load_finetuned": "io", "read_finetune_info": "io",
    "check_base": "io", "base_fingerprint": "io",
    "train_dpo": "dpo", "DPOResult": "dpo", "preference_margin": "dpo",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), {k: f"augment.finetune.{v}" for k, v in _LAZY.items()})
