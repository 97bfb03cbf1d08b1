"""`make demo`: the main job on the embedded default model, offline.

1. quickstart: load the default model, stream an answer, print tokens/s
2. RAG chatbot: ingest examples/docs and answer with checked citations
3. agent: solve a task with tools (constrained tool calls on the local model)
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
STEPS = ["quickstart.py", "rag_chatbot.py", "agent_tools.py"]


def main() -> None:
    for step in STEPS:
        path = HERE / step
        if not path.exists():
            print(f"(skipping {step}: not written yet)")
            continue
        print(f"\n=== {step} ===", flush=True)
        runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    sys.exit(main())
