"""Copy a trained LoRA folder into the package as augment's default adapter (weights stored as bfloat16).

    .venv/bin/python tools/ship_adapter.py build/adapter      # -> augment/llm/default_adapter/

Keeps ``adapter_config.json`` and the training record ``augment_finetune.json``
(method, data summary, losses), drops checkpoints and tokenizer files (the base
model has them), and stores the LoRA weights in bfloat16: half the size, and
PEFT copies them into its float32 LoRA layers on load (the difference is below
the noise of greedy decoding; the evaluation runs on the shipped file).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "augment" / "llm" / "default_adapter"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: tools/ship_adapter.py TRAINED_LORA_FOLDER")
    src = Path(args[0])
    if not (src / "adapter_config.json").is_file():
        raise SystemExit(f"{src} holds no adapter_config.json: pass the --out folder of `augment finetune --method lora`")
    import torch
    from safetensors.torch import load_file, save_file

    TARGET.mkdir(parents=True, exist_ok=True)
    for old in TARGET.glob("*"):
        if old.name != "README.md":
            old.unlink()
    weights = load_file(str(src / "adapter_model.safetensors"))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}, str(TARGET / "adapter_model.safetensors"))
    config = json.loads((src / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "SmolLM2-135M-Instruct (augment's embedded default)"
    (TARGET / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if (src / "augment_finetune.json").is_file():
        shutil.copy(src / "augment_finetune.json", TARGET / "augment_finetune.json")
    size = sum(p.stat().st_size for p in TARGET.iterdir())
    print(json.dumps({"shipped": str(TARGET), "tensors": len(weights), "bytes": size}))


if __name__ == "__main__":
    main()
