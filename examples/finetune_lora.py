"""Fine-tune the embedded SmolLM2 with LoRA to answer in a fixed format, then use the adapter.

Runs offline on a CPU in a few minutes:

    .venv/bin/python examples/finetune_lora.py [--steps 16] [--out adapters/contacts]

1. data: load tests/data/finetune/contacts.jsonl, split it (seeded), print the summary;
2. train: LoRA on the default model (the trainer shows a progress bar and checkpoints into --out);
3. use: load_llm(adapter=...) and compare the base model and the adapter on held-out messages,
   switching per request with the ``adapter`` option;
4. feedback: record a rating to a FeedbackLog, the file DPO trains on (augment finetune --task dpo).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from augment.feedback import FeedbackLog  # noqa: E402
from augment.finetune import finetune, load_data, split_data, summarize  # noqa: E402
from augment import load_llm  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--out", default=None, help="adapter folder (default: a temporary folder)")
    args = p.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="augment_lora_")) / "contacts"

    # 1. data
    splits = split_data(load_data(ROOT / "tests" / "data" / "finetune" / "contacts.jsonl"), test_size=0.2, seed=0)
    print(summarize(splits, text_fields=["instruction", "output"]))

    # 2. train (LoRA on the default SmolLM2-135M-Instruct, loss only on the answer tokens)
    result = finetune(None, splits.train, eval_data=splits.test[:16], task="instruct", method="lora",
                      method_options={"r": 16, "alpha": 32}, lr=1e-3, max_steps=args.steps, batch_size=8,
                      max_length=256, out=out)
    print(result.method)
    print(f"loss {result.train.losses[0]:.3f} -> {result.train.losses[-1]:.3f}; "
          f"held-out loss {result.metrics.get('eval_loss'):.3f}; saved to {result.out}")

    # 3. use: the adapter through the LLM wrapper, switchable per request
    llm = load_llm(adapter={"contacts": out}, dtype="float32")
    llm.set_adapter(None)  # the base model by default; the adapter per request below
    for item in splits.test[:3]:
        base = llm.complete(item["instruction"], max_tokens=32).text
        tuned = llm.complete(item["instruction"], max_tokens=32, adapter="contacts").text
        print(f"\nmessage : {item['instruction'].split('Message: ')[1]}\nbase    : {base!r}\nadapter : {tuned!r}"
              f"\nexpected: {item['output']!r}")

    # 4. feedback for preference tuning (DPO reads this file: augment finetune --task dpo --data feedback.jsonl)
    log = FeedbackLog(out.parent / "feedback.jsonl")
    log.record(splits.test[0]["instruction"], base, rating=-1, preferred=splits.test[0]["output"])
    print(f"\nrecorded feedback; {len(log.preference_pairs())} preference pair(s) in {log.path}")


if __name__ == "__main__":
    main()
