"""The same task zero-shot, few-shot, chain-of-thought and self-consistent, side by side.

Runs on the embedded default model (SmolLM2-135M-Instruct), offline, in well under a minute:

    .venv/bin/python examples/prompting.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from augment import load_llm  # noqa: E402
from augment.prompts import ChainOfThought, FewShot, NumberParser, PromptTemplate, SelfConsistency  # noqa: E402

QUESTION = "Mia has 3 boxes of 4 pencils and 2 loose pencils. How many pencils in total?"
EXAMPLES = [
    {"question": "Tom has 5 apples and gets 3 more. How many apples does Tom have now?",
     "rationale": "Tom starts with 5 and gets 3 more, so 5 + 3 = 8.", "answer": 8},
    {"question": "Ana has 2 bags of 6 coins and 1 loose coin. How many coins in total?",
     "rationale": "2 bags of 6 is 2 * 6 = 12, plus 1 loose gives 12 + 1 = 13.", "answer": 13},
]


def main() -> None:
    llm = load_llm()
    template = PromptTemplate([("system", "You solve short math word problems."), ("user", "Question: {question}\nAnswer:")])
    parser = NumberParser()
    print(f"Task: {QUESTION}  (expected 14)\n")

    def show(name: str, answer, detail: str, seconds: float) -> None:
        print(f"{name:<18} answer={answer!s:<6} {seconds:5.1f}s  {detail}")

    # zero-shot: the template alone
    t = time.perf_counter()
    text = llm.complete(template.render(question=QUESTION), max_tokens=12).text
    show("zero-shot", parser.parse(text).value, repr(text), time.perf_counter() - t)

    # few-shot: two worked examples as chat turns (answer only)
    few = FewShot(template, EXAMPLES, k=2, output="{answer}")
    t = time.perf_counter()
    text = llm.complete(few.render(question=QUESTION), max_tokens=12).text
    show("few-shot (k=2)", parser.parse(text).value, repr(text), time.perf_counter() - t)

    # chain-of-thought: the same examples with their rationales, answer parsed from the reasoning
    cot_prompt = FewShot(template, EXAMPLES, k=2, output="{rationale} The answer is {answer}.")
    cot = ChainOfThought(cot_prompt, llm, parser, trigger=None, extract=False, max_tokens=60)
    t = time.perf_counter()
    r = cot(question=QUESTION)
    show("chain-of-thought", r.answer, repr(r.rationale), time.perf_counter() - t)

    # self-consistency: 5 reasoning paths sampled in one batched call, majority vote
    sc = SelfConsistency(cot, n=5, temperature=0.7, seed=0)
    t = time.perf_counter()
    s = sc(question=QUESTION)
    show("self-consistency", s.answer, f"vote share {s.vote_share:.0%}, paths {[p.answer for p in s.paths]}",
         time.perf_counter() - t)

    print("\nThe exact chain-of-thought prompt (as the model sees it):\n")
    print(llm.render_prompt(cot.reasoning_messages(question=QUESTION)))


if __name__ == "__main__":
    main()
