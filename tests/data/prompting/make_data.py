"""Builds the prompting benchmark sets (deterministic; re-run to regenerate).

sentiment.jsonl: 60 test + 20 pool short movie/product reviews labelled positive/negative (hand-written).
arithmetic.jsonl: 60 test + 20 pool one- or two-step word problems with a worked rationale (seeded generator).
arithmetic_dev.jsonl: 40 more from the same generator under another seed, for tuning (not the benchmark).
Pool items (split="pool") are the few-shot example pool; split="test" items are scored.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).parent

POSITIVE = [
    "An absolute delight from start to finish.", "The acting was superb and the story moved me.",
    "I loved every minute of it.", "Great value for the price, works perfectly.", "Best purchase I made this year.",
    "The soundtrack is beautiful and the visuals are stunning.", "A warm, funny and clever film.",
    "Fast delivery and the quality is excellent.", "My kids adore this toy.", "Brilliant performances all around.",
    "It exceeded all my expectations.", "Comfortable, stylish and well made.", "I would happily watch it again.",
    "The battery lasts for days, fantastic.", "A masterpiece of modern cinema.", "Friendly staff and delicious food.",
    "This book kept me hooked until the last page.", "Simple to set up and it just works.",
    "The ending was perfect.", "Charming characters and a lovely script.", "Highly recommended to everyone.",
    "Sharp picture and great sound.", "The best pizza in town.", "I am very happy with this blender.",
    "A joyful, uplifting experience.", "The director did a wonderful job.", "Sturdy and reliable, five stars.",
    "The hotel room was clean and the view was amazing.", "Exciting, gripping and beautifully shot.",
    "It made me laugh out loud many times.", "Excellent customer service, they solved my problem quickly.",
    "These headphones sound incredible.", "A heartwarming story with a great cast.", "Worth every penny.",
    "The plot twists were smart and satisfying.", "Lightweight and the fit is perfect.", "I enjoyed it immensely.",
    "A fun ride for the whole family.", "Gorgeous design and very easy to use.", "Touching and unforgettable.",
]
NEGATIVE = [
    "A complete waste of time.", "The plot made no sense and the acting was wooden.", "I hated every minute of it.",
    "It broke after two days.", "Terrible quality, do not buy.", "Boring, slow and far too long.",
    "The food was cold and the waiter was rude.", "The worst film I have seen in years.",
    "It stopped working after a week.", "Cheap plastic that feels flimsy.", "A dull, lifeless script.",
    "The battery dies within an hour.", "I want my money back.", "Awful customer service, nobody answered.",
    "The jokes fell flat and the pacing dragged.", "Uncomfortable and badly stitched.",
    "The screen cracked on the first drop.", "A predictable and tedious story.", "Very disappointing overall.",
    "The room was dirty and noisy.", "Poorly written characters and a silly ending.", "It smells bad and leaks.",
    "Too expensive for such poor performance.", "The sound keeps cutting out.", "I fell asleep halfway through.",
    "The instructions were useless and it never worked.", "A mess of a movie with no heart.",
    "The delivery was late and the box was damaged.", "Bland food and tiny portions.", "Not worth the hype at all.",
    "The app crashes constantly.", "Painfully slow and confusing.", "The actors seemed bored.",
    "It arrived broken and support ignored me.", "Ugly, heavy and hard to use.", "A forgettable sequel.",
    "The colors faded after one wash.", "I regret buying this.", "Loud, annoying and pointless.",
    "The worst hotel stay of my life.",
]

NAMES = ["Tom", "Ana", "Raj", "Mia", "Leo", "Sara", "Ken", "Lily", "Omar", "Eva", "Sam", "Nina"]
ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "coins", "cards", "shells", "stamps"]


def problem(rng: random.Random) -> dict:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    kind = rng.choice(["add", "sub", "mul", "add_sub", "mul_add"])
    if kind == "add":
        a, b = rng.randint(2, 30), rng.randint(2, 30)
        q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
        r, ans = f"{name} starts with {a} {item} and gets {b} more, so {a} + {b} = {a + b}.", a + b
    elif kind == "sub":
        a = rng.randint(10, 40)
        b = rng.randint(1, a - 1)
        q = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
        r, ans = f"{name} starts with {a} {item} and gives away {b}, so {a} - {b} = {a - b}.", a - b
    elif kind == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        q = f"{name} buys {a} bags with {b} {item} in each bag. How many {item} is that in total?"
        r, ans = f"There are {a} bags of {b} {item}, so {a} * {b} = {a * b}.", a * b
    elif kind == "add_sub":
        a, b = rng.randint(5, 20), rng.randint(2, 15)
        c = rng.randint(1, a + b - 1)
        q = f"{name} has {a} {item}, finds {b} more and then loses {c}. How many {item} does {name} have?"
        r, ans = f"{a} + {b} = {a + b}, and {a + b} - {c} = {a + b - c}.", a + b - c
    else:
        a, b, c = rng.randint(2, 6), rng.randint(2, 6), rng.randint(1, 10)
        q = f"{name} has {a} boxes of {b} {item} and {c} loose {item}. How many {item} in total?"
        r, ans = f"{a} boxes of {b} is {a} * {b} = {a * b}, plus {c} loose gives {a * b} + {c} = {a * b + c}.", a * b + c
    return {"question": q, "rationale": r, "answer": ans, "kind": kind}


def main() -> None:
    rng = random.Random(1234)
    pos = [{"text": t, "label": "positive"} for t in POSITIVE]
    neg = [{"text": t, "label": "negative"} for t in NEGATIVE]
    rng.shuffle(pos)
    rng.shuffle(neg)
    for i, row in enumerate(pos + neg):
        row["split"] = "pool" if i % 40 < 10 else "test"  # a balanced pool: 10 positive + 10 negative
    sent = pos[:10] + neg[:10] + pos[10:] + neg[10:]
    test = sent[20:]
    rng.shuffle(test)
    sent = sent[:20] + test
    arith = [problem(rng) for _ in range(80)]
    for i, row in enumerate(arith):
        row["split"] = "pool" if i < 20 else "test"
    # a development set for tuning program-aided math (never scored as the benchmark): its own seed,
    # no question shared with the pool or the test split
    seen, dev, dev_rng = {r["question"] for r in arith}, [], random.Random(2026)
    while len(dev) < 40:
        row = problem(dev_rng)
        if row["question"] not in seen:
            seen.add(row["question"])
            dev.append({**row, "split": "dev"})
    for name, rows in (("sentiment", sent), ("arithmetic", arith), ("arithmetic_dev", dev)):
        (HERE / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
