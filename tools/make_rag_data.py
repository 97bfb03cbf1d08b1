"""Write the grounded-answer tuning set of augment's default adapter: seeded, synthetic, fictional.

    .venv/bin/python tools/make_rag_data.py                  # -> tools/tuning_data/grounded.jsonl

Each record is one RAG turn exactly as :class:`augment.RAG` builds it (its
system prompt, the question template, 2-4 numbered sources rendered by
``RAG.format_sources``) and the answer to learn: the sentence of the source
that holds the fact, copied, with its citation ``[n]``; or ``I don't know.``
when no source holds it (about a quarter of the records, with sources about
the same entity or a similar one, so the model must check rather than guess).

The documents are generated from templates about fictional towns, devices,
species, companies and festivals with random values, so the adapter learns to
copy from the sources, not to recall facts; none comes from ``examples/docs``
or from the evaluation set ``tests/data/rag_eval``. Generic values can coincide
with an evaluation answer span (a fictional device's "16 seconds" reset): the
first-stage file was generated before that set existed and keeps 5 such
records (the script counts them); ``--drop-eval-spans`` (used for the second
stage) drops them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from augment.llm.fake import FakeLLM  # noqa: E402
from augment.rag import RAG  # noqa: E402
from augment.retrieval.retriever import ListRetriever  # noqa: E402
from augment.types import Document, Message, ScoredDocument  # noqa: E402
from tuning_common import held_out_qa, write_records  # noqa: E402

OUT = ROOT / "tools" / "tuning_data" / "grounded.jsonl"
IDK = "I don't know."
SYL = ["ka", "lo", "mer", "vin", "tor", "sa", "bel", "qui", "dar", "no", "rel", "fa", "zen", "mi", "gor", "lu", "pen", "ash", "ur", "ti"]
PEOPLE = ["Ilse Marrow", "Tomas Reyl", "Ada Quint", "Jorge Pell", "Mina Sato", "Olu Baker", "Greta Fenn", "Pavel Dusk", "Rosa Lind"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
COLOURS = ["green", "blue", "orange", "grey", "red", "white", "yellow", "purple"]


def name(rng: random.Random, n: int = 2) -> str:
    return "".join(rng.choice(SYL) for _ in range(n)).capitalize()


# Each kind: a title maker and facts (sentence template, question templates, the value maker).
KINDS: dict[str, dict[str, Any]] = {
    "town": {"title": lambda r: name(r) + r.choice(["ford", "haven", "wick", "stad", "mouth"]), "facts": [
        ("{x} was founded in {v}.", ["When was {x} founded?", "In which year was {x} founded?"], lambda r: str(r.randint(900, 1950))),
        ("About {v} people live in {x}.", ["How many people live in {x}?", "What is the population of {x}?"], lambda r: f"{r.randint(2, 900)},{r.randint(100, 999)}"),
        ("The river {v} flows through {x}.", ["Which river flows through {x}?"], lambda r: name(r, 2)),
        ("{x} is known for its {v}.", ["What is {x} known for?"], lambda r: r.choice(["glass bridges", "salt markets", "clock towers", "tulip fields", "stone harbour"])),
        ("The mayor of {x} is {v}.", ["Who is the mayor of {x}?"], lambda r: r.choice(PEOPLE)),
    ]},
    "device": {"title": lambda r: f"{name(r)} {r.choice(['X2', 'Pro', 'Mini', '300', 'Air'])}", "facts": [
        ("To reset the {x}, hold the power button for {v} seconds.", ["How do I reset the {x}?", "How long must I hold the power button to reset the {x}?"], lambda r: str(r.randint(3, 20))),
        ("The {x} battery lasts about {v} hours.", ["How long does the {x} battery last?"], lambda r: str(r.randint(4, 72))),
        ("The {x} weighs {v} grams.", ["How much does the {x} weigh?"], lambda r: str(r.randint(90, 2400))),
        ("The status light of the {x} blinks {v} when the battery is low.", ["What does the {x} light do when the battery is low?"], lambda r: r.choice(COLOURS)),
        ("The {x} connects over {v}.", ["How does the {x} connect?"], lambda r: r.choice(["Bluetooth 5.3", "USB-C", "Wi-Fi 6", "a serial cable"])),
        ("The default password of the {x} is {v}.", ["What is the default password of the {x}?"], lambda r: f"{name(r).lower()}{r.randint(10, 99)}"),
    ]},
    "species": {"title": lambda r: f"The {name(r)} {r.choice(['beetle', 'finch', 'frog', 'fern', 'moth', 'otter'])}", "facts": [
        ("{x} lives for about {v} years.", ["How long does {x} live?", "What is the lifespan of {x}?"], lambda r: str(r.randint(1, 60))),
        ("{x} feeds mainly on {v}.", ["What does {x} eat?"], lambda r: r.choice(["moss", "small snails", "pine seeds", "river algae", "nectar"])),
        ("{x} was first described by {v}.", ["Who first described {x}?"], lambda r: r.choice(PEOPLE)),
        ("An adult {x} is about {v} centimetres long.", ["How long is an adult {x}?", "How big does {x} get?"], lambda r: str(r.randint(1, 90))),
        ("{x} is found only on the island of {v}.", ["Where is {x} found?"], lambda r: name(r, 3)),
    ]},
    "company": {"title": lambda r: f"{name(r)} {r.choice(['Works', 'Labs', 'Foods', 'Freight'])}", "facts": [
        ("{x} was founded by {v}.", ["Who founded {x}?"], lambda r: r.choice(PEOPLE)),
        ("{x} has its headquarters in {v}.", ["Where is {x} headquartered?", "Where are the headquarters of {x}?"], lambda r: name(r) + "burg"),
        ("{x} employs around {v} people.", ["How many people work at {x}?"], lambda r: str(r.randint(12, 40000))),
        ("The best-known product of {x} is the {v}.", ["What is the best-known product of {x}?"], lambda r: f"{name(r)} {r.choice(['kettle', 'drone', 'bicycle', 'lamp'])}"),
    ]},
    "festival": {"title": lambda r: f"The {name(r)} Festival", "facts": [
        ("{x} takes place every {v}.", ["When does {x} take place?"], lambda r: r.choice(MONTHS)),
        ("{x} lasts {v} days.", ["How many days does {x} last?"], lambda r: str(r.randint(2, 14))),
        ("The symbol of {x} is a {v} lantern.", ["What is the symbol of {x}?"], lambda r: r.choice(COLOURS)),
        ("{x} was first held in {v}.", ["When was {x} first held?"], lambda r: str(r.randint(1700, 2015))),
    ]},
}
FILLER = ["It is described in several regional guides.", "Visitors often ask about it.", "More details are given in the appendix.",
          "The information was last checked this year.", "Local records confirm this.", "Several studies mention it."]


def passage(rng: random.Random, kind: str, x: str, facts: list[tuple[str, str]]) -> str:
    sentences = [f.format(x=x, v=v) for f, v in facts]
    if rng.random() < 0.5:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(FILLER))
    return " ".join(s[0].upper() + s[1:] for s in sentences)


def make_record(rng: random.Random, rag: RAG) -> dict[str, Any]:
    kind = rng.choice(list(KINDS))
    spec = KINDS[kind]
    x = spec["title"](rng)
    facts = rng.sample(spec["facts"], k=min(len(spec["facts"]), rng.randint(2, 4)))
    values = [(f, qs, g(rng)) for f, qs, g in facts]
    answerable = rng.random() < 0.75
    asked = rng.choice(values) if answerable else rng.choice([f for f in spec["facts"] if f[0] not in {v[0] for v in values}] or [None])
    if asked is None:  # every fact is in the passage: ask about another entity instead
        answerable, other = False, spec["title"](rng)
        q = rng.choice(values[0][1]).format(x=other)
    else:
        q = rng.choice(asked[1]).format(x=x)
    main = passage(rng, kind, x, [(f, v) for f, _, v in values])
    docs = [Document(main, {"title": x, "source": f"{kind}s/{x.lower().replace(' ', '_')}.md"})]
    for _ in range(rng.randint(1, 3)):  # distractors: same kind, other entities (similar sentences, other values)
        k2 = rng.choice([kind, kind, rng.choice(list(KINDS))])
        s2 = KINDS[k2]
        y = s2["title"](rng)
        f2 = rng.sample(s2["facts"], k=min(len(s2["facts"]), rng.randint(2, 4)))
        docs.append(Document(passage(rng, k2, y, [(f, g(rng)) for f, _, g in f2]), {"title": y, "source": f"{k2}s/{y.lower().replace(' ', '_')}.md"}))
    rng.shuffle(docs)
    sources = [ScoredDocument(d, round(1.0 - 0.1 * i, 2)) for i, d in enumerate(docs)]
    if answerable:
        n = next(i for i, d in enumerate(docs, 1) if d.text == main)
        sentence = asked[0].format(x=x, v=asked[2])
        answer = f"{sentence[0].upper() + sentence[1:-1]} [{n}]."
    else:
        answer = IDK
    msgs = rag.build_messages(q, sources) + [Message.assistant(answer)]
    return {"kind": "grounded" if answerable else "unanswerable", "messages": [m.to_dict() for m in msgs]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--drop-eval-spans", action="store_true",
                    help="drop generated records that happen to contain an answer span of tests/data/rag_eval")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    rag = RAG(FakeLLM(["unused"]), ListRetriever([Document("unused")]))
    spans = held_out_qa("rag_eval")[0]
    rows, dropped = [], 0
    coincidences = 0
    while len(rows) < args.records:
        r = make_record(rng, rag)
        if any(s in m["content"] for s in spans for m in r["messages"]):
            if args.drop_eval_spans:  # a record that happens to contain an evaluation answer span is not kept
                dropped += 1
                continue
            coincidences += 1
        rows.append(r)
    kinds = write_records(rows, args.out)
    print(json.dumps({"records": len(rows), "by_kind": kinds, "eval_spans_checked": len(spans),
                      "dropped_for_containing_an_eval_span": dropped, "kept_with_an_eval_span": coincidences,
                      "out": str(args.out)}))


if __name__ == "__main__":
    main()
