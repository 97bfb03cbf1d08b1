"""An agent with a custom ``@tool`` and the calculator, on the embedded default model (offline).

    .venv/bin/python examples/agent_tools.py

On the local model every tool call is produced under a grammar (constrained
decoding), so it always names a real tool with valid arguments, and
``load_llm()`` carries augment's adapter, tuned for tool use: the 135M model
picks the tool, pulls the arguments out of the request and reports the result.
It is still a 135M model: measured on held-out tasks it solves about 6 in 10
(see the README), not every one.
"""

from __future__ import annotations

import os
import time
from typing import Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from augment import Agent, load_llm  # noqa: E402
from augment.tools import builtin, tool  # noqa: E402

PRICES = {"apple": 0.5, "bread": 2.25, "milk": 1.1}


@tool
def price(item: Literal["apple", "bread", "milk"]) -> str:
    """Look up the price of one item in the shop, in euros.

    Args:
        item: the item to price
    """
    return f"{item} costs {PRICES[item]} euros"


TASKS = ["Look up the price of milk.", "A crate holds 24 bottles. How many bottles are in 15 crates?"]


def main() -> None:
    start = time.perf_counter()
    llm = load_llm()
    agent = Agent(llm, [price, builtin("calculator")], max_steps=3, options={"max_tokens": 48})
    for task in TASKS:
        print(f"task: {task}")
        for event in agent.stream(task):
            if hasattr(event, "describe"):
                print(" ", event.describe(), f"({event.tokens} tokens, {event.seconds:.1f} s)", flush=True)
            else:
                status = "answer" if event.complete else "no answer (max_steps reached)"
                print(f"{status}: {event.answer}")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
