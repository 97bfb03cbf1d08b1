"""Rebuild this BEIR-format folder from examples/docs (run from anywhere: python make_beir_small.py).

corpus.jsonl: one document per "## " section of examples/docs/*.md (except README.md) plus
12 hand-written distractors; queries.jsonl: 22 hand-written questions; qrels/test.tsv:
graded judgements (2 = answers the question, 1 = related). Same license as examples/docs (CC0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[2] / "examples" / "docs"

DISTRACTORS = {
    "x-bumblebees": ("Bumblebees", "Bumblebee colonies are small, with a few dozen to a few hundred workers, and last only one summer. Only young queens survive the winter, hibernating alone in the soil."),
    "x-tower-bridge": ("Tower Bridge", "Tower Bridge in London is a combined bascule and suspension bridge over the River Thames. It was completed in 1894 and its two roadway leaves can be raised to let ships pass."),
    "x-statue-of-liberty": ("Statue of Liberty", "The Statue of Liberty in New York Harbor has a copper skin over an internal iron framework designed by Gustave Eiffel's company. It was dedicated in 1886."),
    "x-mars-moons": ("Moons of Mars", "Mars has two small moons, Phobos and Deimos, discovered by Asaph Hall in 1877. They may be captured asteroids."),
    "x-solar-eclipse": ("Solar eclipse", "A solar eclipse happens when the Moon passes between the Sun and Earth and blocks the sunlight, which can only occur at new moon."),
    "x-java": ("Java", "Java is a statically typed programming language created by James Gosling at Sun Microsystems and released in 1995. Programs compile to bytecode that runs on the Java virtual machine."),
    "x-respiration": ("Cellular respiration", "Cellular respiration breaks down glucose with oxygen inside mitochondria, releasing carbon dioxide, water and energy stored as ATP."),
    "x-ocean-currents": ("Ocean currents", "Ocean currents are driven by wind and by differences in water temperature and salinity. The Gulf Stream carries warm water from the Gulf of Mexico toward Europe."),
    "x-pythons": ("Pythons", "Pythons are large non-venomous snakes found in Africa, Asia and Australia. They kill their prey by constriction."),
    "x-tfidf": ("TF-IDF", "TF-IDF weights a word by how often it appears in a document multiplied by the logarithm of how rare it is across the collection."),
    "x-glaciers": ("Glaciers", "A glacier forms where more snow falls each year than melts. Over many years the snow is compressed into dense ice that slowly flows downhill."),
    "x-butterflies": ("Butterflies", "Butterflies drink nectar through a long tube called a proboscis and also carry pollen between flowers, though less of it than bees."),
}

# query -> {section id: grade}; section ids are "<file stem>-<section number from 1>"
QUERIES = [
    ("Who decoded the bee dance that shows where flowers are?", {"honey_bees-3": 2}),
    ("How many rivets hold the Paris tower together?", {"eiffel_tower-4": 2}),
    ("Why do leaves appear green?", {"photosynthesis-2": 2}),
    ("When did Python 2 stop being supported?", {"python_language-5": 2}),
    ("What causes ocean tides?", {"the_moon-5": 2}),
    ("How do bees survive the cold season?", {"honey_bees-8": 2}),
    ("What is RuBisCO?", {"photosynthesis-4": 2}),
    ("How often is the Eiffel Tower painted?", {"eiffel_tower-6": 2}),
    ("How do clouds form?", {"water_cycle-4": 2}),
    ("Who were the first people to walk on the lunar surface?", {"the_moon-7": 2}),
    ("How does reciprocal rank fusion merge keyword and vector results?", {"retrieval-3": 2}),
    ("Why is Python called Python?", {"python_language-2": 2}),
    ("What share of Earth's water is salty?", {"water_cycle-7": 2}),
    ("How long is the lunar month from new moon to new moon?", {"the_moon-4": 2, "the_moon-3": 1}),
    ("Which engineers drew the first design of the tower for the 1889 fair?", {"eiffel_tower-2": 2, "eiffel_tower-1": 1}),
    ("How do desert plants save water during photosynthesis?", {"photosynthesis-7": 2}),
    ("What does the k1 parameter of BM25 do?", {"retrieval-1": 2}),
    ("How do plants release water vapour?", {"water_cycle-3": 2}),
    ("How do honey bee colonies reproduce?", {"honey_bees-7": 2, "honey_bees-1": 1}),
    ("What measures the share of relevant documents in the top ten results?", {"retrieval-5": 2}),
    ("Why doesn't honey go bad?", {"honey_bees-4": 2}),
    ("What was the tallest structure before the Chrysler Building?", {"eiffel_tower-3": 2}),
]


def sections(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", text, re.M).group(1).strip()
    out = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        out.append((f"{title} - {head.strip()}", " ".join(body.split())))
    return out


def main() -> None:
    corpus = []
    for path in sorted(DOCS.glob("*.md")):
        if path.name == "README.md":
            continue
        for i, (title, text) in enumerate(sections(path), start=1):
            corpus.append({"_id": f"{path.stem}-{i}", "title": title, "text": text})
    corpus += [{"_id": i, "title": t, "text": x} for i, (t, x) in DISTRACTORS.items()]
    ids = {d["_id"] for d in corpus}
    with open(HERE / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in corpus:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(HERE / "queries.jsonl", "w", encoding="utf-8") as f, open(HERE / "qrels" / "test.tsv", "w") as q:
        q.write("query-id\tcorpus-id\tscore\n")
        for n, (text, rels) in enumerate(QUERIES, start=1):
            f.write(json.dumps({"_id": f"q{n}", "text": text}) + "\n")
            for doc, grade in rels.items():
                assert doc in ids, doc
                q.write(f"q{n}\t{doc}\t{grade}\n")
    print(f"{len(corpus)} documents, {len(QUERIES)} queries")


if __name__ == "__main__":
    main()
