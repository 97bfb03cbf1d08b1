"""Build contacts.jsonl: 300 messages -> one fixed-format line "name: ... | city: ... | phone: ...".

A small real instruction task that teaches an output format the untrained model never produces.
Seeded, so running it again rebuilds the same file:  python tests/data/finetune/make_contacts.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FIRST = ["Maria", "John", "Aisha", "Kenji", "Lena", "Carlos", "Priya", "Tom", "Sofia", "Ahmed", "Elena", "David",
         "Yuki", "Omar", "Grace", "Lukas", "Nina", "Pedro", "Fatima", "Jonas", "Chloe", "Ivan", "Mei", "Samuel"]
LAST = ["Lopez", "Smith", "Khan", "Tanaka", "Fischer", "Silva", "Patel", "Brown", "Rossi", "Haddad", "Novak",
        "Miller", "Sato", "Farouk", "Okafor", "Weber", "Berg", "Costa", "Nasser", "Lind", "Martin", "Petrov"]
CITIES = ["Lisbon", "Chicago", "Lahore", "Osaka", "Munich", "Recife", "Pune", "Leeds", "Turin", "Beirut", "Prague",
          "Denver", "Nagoya", "Cairo", "Lagos", "Vienna", "Bergen", "Porto", "Amman", "Malmo", "Lyon", "Sofia"]
TEMPLATES = [
    "Hi, this is {name} from {city}. Please call me back at {phone}.",
    "{name} ({city}) left a message: ring {phone} tomorrow morning.",
    "New lead: {name}, based in {city}, phone {phone}.",
    "Can someone from sales contact {name}? They live in {city} and their number is {phone}.",
    "Message from {city}: {name} asks for a quote, reach them on {phone}.",
    "Call {phone} and ask for {name}; the office is in {city}.",
    "Hello! My name is {name}, I'm writing from {city}. You can reach me at {phone}.",
    "Reminder: {name} will visit our {city} branch. Contact number: {phone}.",
    "Customer {name} from {city} reported a broken order. Phone: {phone}.",
    "Please update the record for {name}: moved to {city}, new number {phone}.",
]
INSTRUCTION = "Extract the contact details from this message.\n\nMessage: {message}"


def build(n: int = 300, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        city, phone = rng.choice(CITIES), f"555-{rng.randint(1000, 9999)}"
        if (name, city, phone) in seen:
            continue
        seen.add((name, city, phone))
        message = rng.choice(TEMPLATES).format(name=name, city=city, phone=phone)
        out.append({"instruction": INSTRUCTION.format(message=message),
                    "output": f"name: {name} | city: {city} | phone: {phone}"})
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("contacts.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in build()))
    print(f"wrote {path}")
