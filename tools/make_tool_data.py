"""Write the tool-use tuning set of augment's default adapter: seeded, synthetic, diverse.

    .venv/bin/python tools/make_tool_data.py                     # -> tools/tuning_data/tool_use.jsonl
    .venv/bin/python tools/make_tool_data.py --episodes 600 --seed 1 --out my.jsonl

Each episode is a user request, the tools on offer (2-5, drawn from ~25 tool
families with typed schemas: numbers, strings, enums, optional arguments, each
with name variants so the model reads the list instead of memorising it), the
right call(s), the real or simulated observations and a final answer that
reports them. Kinds: direct arithmetic, arithmetic pulled out of prose, lookups
in generated tables (values are random, so the answer must be copied from the
observation), unit/currency conversion, string work in python, dates with
``now``, pages with ``http_get``, two-step chains, a tool error and its
recovery, and questions that need no tool.

Every episode becomes one record in the format of
:mod:`augment.finetune.chat` (``messages`` as the agent builds them, ``tools``
as the agent sends them), so the adapter is trained on the exact prompts
:class:`augment.Agent` renders. Held out: no task of
``tests/data/agent_tasks.jsonl`` (nor of any ``--exclude`` file) is generated;
the script checks exact matches and prints the closest overlap it finds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from augment.agent import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from augment.tools import builtin  # noqa: E402
from augment.tools.calculator import evaluate, format_number  # noqa: E402
from augment.types import Message, ToolCall  # noqa: E402
from tuning_common import write_records  # noqa: E402

OUT = ROOT / "tools" / "tuning_data" / "tool_use.jsonl"
EVAL_SETS = [ROOT / "tests" / "data" / "agent_tasks.jsonl"]

# ---- tool specs ---------------------------------------------------------------


def spec(name: str, description: str, props: list[tuple[str, dict[str, Any], bool]]) -> dict[str, Any]:
    """An OpenAI tool spec; ``props`` in schema order: (name, schema, required)."""
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {n: s for n, s, _ in props},
                       "required": [n for n, _, r in props if r]}}}


def S(desc: str) -> dict[str, Any]:
    return {"type": "string", "description": desc}


def N(desc: str, integer: bool = False) -> dict[str, Any]:
    return {"type": "integer" if integer else "number", "description": desc}


def E(values: list[str], desc: str) -> dict[str, Any]:
    return {"type": "string", "enum": values, "description": desc}


BUILTIN = {name: builtin(name, **({"allowed_hosts": ["127.0.0.1"], "allow_private": True} if name == "http_get" else {})).spec()
           for name in ("calculator", "python", "now", "http_get")}

# fictional names so that facts must be read from observations, never recalled
SYL = ["ka", "lo", "mer", "vin", "tor", "sa", "bel", "qui", "dar", "no", "rel", "fa", "zen", "mi", "gor", "lu", "pen", "ash"]
COUNTRIES = ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "India", "Chile", "Egypt", "Spain", "Peru", "Vietnam"]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Quito", "Dublin", "Porto", "Seville", "Osaka", "Perth", "Cusco",
          "Bergen", "Accra", "Tunis", "Krakow", "Valencia", "Montreal", "Busan", "Cordoba"]
FIRST = ["Maya", "Omar", "Lena", "Igor", "Sofia", "Ravi", "Chen", "Ada", "Bruno", "Nina", "Kofi", "Elsa", "Hugo", "Zara"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Reyes", "Brandt"]
WORDS = ["window", "garden", "pencil", "rocket", "marble", "thunder", "blanket", "lantern", "harbor", "velvet",
         "compass", "meadow", "orchid", "puzzle", "saddle", "tunnel", "whisper", "crystal", "falcon", "giraffe"]
COLOURS = ["amber", "teal", "crimson", "olive", "indigo", "magenta", "ivory", "scarlet", "lilac", "cobalt"]


def fname(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(SYL) for _ in range(parts)).capitalize()


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


class Episode:
    """A task, its tools, and the turns: ('call', ToolCall, observation) or ('answer', text)."""

    def __init__(self, kind: str, task: str, tools: list[dict[str, Any]]):
        self.kind, self.task, self.tools, self.turns = kind, task, tools, []

    def call(self, name: str, args: dict[str, Any], observation: str) -> "Episode":
        self.turns.append(("call", ToolCall(name, args, id=f"call_{len(self.turns) + 1}"), observation))
        return self

    def answer(self, text: str) -> "Episode":
        self.turns.append(("answer", text))
        return self


# ---- arithmetic ----------------------------------------------------------------
def calc(expr: str) -> str:
    return format_number(evaluate(expr, 500, 1000))


DIRECT = [  # (template, expression template)
    ("What is {a} * {b}?", "{a} * {b}"), ("How much is {a} times {b}?", "{a} * {b}"),
    ("Calculate {a} + {b}.", "{a} + {b}"), ("What do you get when you add {a} and {b}?", "{a} + {b}"),
    ("Subtract {b} from {a}.", "{a} - {b}"), ("What is {a} minus {b}?", "{a} - {b}"),
    ("Divide {p} by {b}.", "{p} / {b}"), ("What is {p} divided by {b}?", "{p} / {b}"),
    ("What is {s} squared?", "{s} ** 2"), ("Compute {s} to the power of 3.", "{s} ** 3"),
    ("What is the square root of {sq}?", "sqrt({sq})"), ("Find the remainder when {a} is divided by {s}.", "{a} % {s}"),
    ("What is {pc}% of {a}?", "{pc} / 100 * {a}"), ("Evaluate ({a} + {b}) * {s}.", "({a} + {b}) * {s}"),
    ("What is {a} * {b} - {s}?", "{a} * {b} - {s}"), ("Calculate the factorial of {f}.", "factorial({f})"),
    ("Round {x} to 2 decimal places.", "round({x}, 2)"), ("What is {a}+{b}+{s}?", "{a} + {b} + {s}"),
    ("Work out {a} x {s}.", "{a} * {s}"), ("I need {a} multiplied by {b}, please.", "{a} * {b}"),
    ("compute {b} - {a}", "{b} - {a}"), ("How much is half of {e}?", "{e} / 2"),
    ("What's {pc} percent of {b}?", "{pc} / 100 * {b}"), ("What is {a} cubed?", "{a} ** 3"),
]

PROSE = [  # (template, expression, unit phrase of the answer)
    ("A library has {a} shelves with {b} books on each shelf. How many books are there?", "{a} * {b}", "books"),
    ("{n1} had {a} marbles and lost {b} of them. How many marbles does {n1} have now?", "{a} - {b}", "marbles"),
    ("A bakery sold {a} croissants in the morning and {b} in the afternoon. How many were sold in all?", "{a} + {b}", "croissants"),
    ("{p} chairs are arranged in {b} equal rows. How many chairs are in each row?", "{p} / {b}", "chairs"),
    ("A cyclist rides {s} km every day for {b} days. What distance is that?", "{s} * {b}", "km"),
    ("A tank holds {a} litres and {b} litres are drained. How many litres remain?", "{a} - {b}", "litres"),
    ("Tickets cost {s} dollars each. What do {b} tickets cost?", "{s} * {b}", "dollars"),
    ("A garden has {a} roses, {b} tulips and {s} lilies. How many flowers is that?", "{a} + {b} + {s}", "flowers"),
    ("{n1} saves {s} euros a week. How much has {n1} saved after {b} weeks?", "{s} * {b}", "euros"),
    ("A school orders {p} notebooks packed {b} per box. How many boxes arrive?", "{p} / {b}", "boxes"),
    ("A movie lasts {a} minutes and {n1} has watched {b} minutes. How many minutes are left?", "{a} - {b}", "minutes"),
    ("There are {s} buses with {b} passengers each. How many passengers in total?", "{s} * {b}", "passengers"),
    ("A square field has sides of {s} metres. What is its area in square metres?", "{s} * {s}", "square metres"),
    ("{n1} earns {a} dollars and spends {pc} percent of it on rent. How much is the rent?", "{pc} / 100 * {a}", "dollars"),
    ("A printer prints {s} pages per minute. How many pages does it print in {b} minutes?", "{s} * {b}", "pages"),
    ("A warehouse had {a} crates; {b} were shipped out and {s} new ones arrived. How many crates now?", "{a} - {b} + {s}", "crates"),
    ("{p} grams of flour are shared equally among {b} cakes. How many grams per cake?", "{p} / {b}", "grams"),
    ("A runner does {s} laps of {b} metres. How many metres is that?", "{s} * {b}", "metres"),
    ("The temperature was {b} degrees and dropped by {s} degrees. What is it now?", "{b} - {s}", "degrees"),
    ("A phone costs {a} dollars and a case costs {s} dollars. What is the total price?", "{a} + {s}", "dollars"),
]


def numbers(rng: random.Random) -> dict[str, Any]:
    a, b, s = rng.randint(12, 999), rng.randint(11, 99), rng.randint(3, 40)
    return {"a": a, "b": b, "s": s, "p": b * rng.randint(2, 60), "sq": rng.randint(4, 60) ** 2, "f": rng.randint(4, 9),
            "pc": rng.choice([5, 10, 12, 15, 20, 25, 30, 40, 75]), "x": round(rng.uniform(1, 100), rng.choice([3, 4])),
            "e": rng.randint(10, 500) * 2, "n1": rng.choice(FIRST)}


def ep_direct(rng: random.Random) -> Episode:
    q, e = rng.choice(DIRECT)
    v = numbers(rng)
    expr, result = e.format(**v), None
    result = calc(expr)
    task = q.format(**v)
    ans = rng.choice([f"{expr} = {result}.", f"The answer is {result}.", f"{result}"])
    return Episode("arithmetic", task, ["calculator"]).call("calculator", {"expression": expr}, result).answer(ans)


def ep_prose(rng: random.Random) -> Episode:
    q, e, unit = rng.choice(PROSE)
    v = numbers(rng)
    expr = e.format(**v)
    result = calc(expr)
    return (Episode("prose", q.format(**v), ["calculator"]).call("calculator", {"expression": expr}, result)
            .answer(rng.choice([f"{result} {unit}.", f"The answer is {result} {unit}.", f"That makes {result} {unit}."])))


# ---- lookups over generated tables -----------------------------------------------
def ep_weather(rng: random.Random) -> Episode:
    name = rng.choice(["get_weather", "weather_now", "current_weather"])
    unit_opt = rng.random() < 0.5
    props = [("city", S("the city name"), True)]
    if unit_opt:
        props.append(("unit", E(["celsius", "fahrenheit"], "temperature unit"), False))
    tool = spec(name, "Get the current weather in a city.", props)
    city = rng.choice(CITIES)
    unit = rng.choice(["celsius", "fahrenheit"]) if unit_opt and rng.random() < 0.5 else None
    temp = rng.randint(-5, 35) if unit != "fahrenheit" else rng.randint(25, 95)
    sky = rng.choice(["sunny", "cloudy", "rainy", "windy", "foggy", "snowing"])
    task = (f"What's the weather like in {city} in {unit}?" if unit else
            rng.choice([f"What is the weather in {city}?", f"How warm is it in {city} right now?", f"Is it raining in {city}?"]))
    args = {"city": city, **({"unit": unit} if unit else {})}
    obs = f"{city}: {temp} degrees {unit or 'celsius'}, {sky}"
    return Episode("lookup", task, [tool]).call(name, args, obs).answer(f"In {city} it is {temp} degrees {unit or 'celsius'} and {sky}.")


TABLES = [  # (base name, description, argument, entity maker, [(attribute, value maker, question, answer)])
        ("get_company_info", "Look up facts about a company: founding year, headquarters, employees.", "company",
         lambda r: f"{fname(r)} {r.choice(['Labs', 'Systems', 'Foods', 'Motors', 'Textiles'])}",
         [("founded", lambda r: str(r.randint(1890, 2020)), "When was {x} founded?", "{x} was founded in {v}."),
          ("headquarters", lambda r: r.choice(CITIES), "Where is {x} based?", "{x} is based in {v}."),
          ("employees", lambda r: str(r.randint(20, 90000)), "How many employees does {x} have?", "{x} has {v} employees.")]),
        ("book_info", "Find the author and publication year of a book by its title.", "title",
         lambda r: f"The {r.choice(WORDS).capitalize()} of {fname(r)}",
         [("author", person, "Who wrote {x}?", "{x} was written by {v}."),
          ("year", lambda r: str(r.randint(1800, 2023)), "When was {x} published?", "{x} was published in {v}.")]),
        ("get_contact", "Look up a person's phone number and email in the address book.", "name", person,
         [("phone", lambda r: f"+{r.randint(1, 99)} {r.randint(100, 999)} {r.randint(1000, 9999)}", "What is {x}'s phone number?",
           "{x}'s phone number is {v}."),
          ("email", lambda r: f"{r.choice(WORDS)}.{r.randint(1, 99)}@example.org", "What is the email address of {x}?",
           "The email of {x} is {v}.")]),
        ("planet_facts", "Facts about a planet of the Orrin star catalogue.", "planet", lambda r: fname(r, 3),
         [("moons", lambda r: str(r.randint(0, 80)), "How many moons does the planet {x} have?", "{x} has {v} moons."),
          ("day_length_hours", lambda r: str(r.randint(5, 900)), "How long is a day on {x}?", "A day on {x} lasts {v} hours.")]),
        ("product_lookup", "Get the price and stock of a product in the shop catalogue.", "product",
         lambda r: f"{r.choice(COLOURS)} {r.choice(WORDS)}",
         [("price_usd", lambda r: f"{r.randint(2, 500)}.{r.randint(0, 99):02d}", "How much does the {x} cost?", "The {x} costs {v} USD."),
          ("in_stock", lambda r: str(r.randint(0, 400)), "How many {x}s are in stock?", "There are {v} in stock.")]),
        ("city_population", "Get the population of a town in the regional register.", "town", lambda r: fname(r) + "ville",
         [("population", lambda r: str(r.randint(800, 2_000_000)), "How many people live in {x}?", "{x} has {v} inhabitants.")]),
]


def table_tool(rng: random.Random, fam: tuple[Any, ...]) -> dict[str, Any]:
    base, desc, arg = fam[:3]
    name = base if rng.random() < 0.6 else rng.choice(["lookup_" + arg, "find_" + arg, base.replace("get_", "fetch_")])
    return spec(name, desc, [(arg, S(f"the {arg} to look up"), True)])


def ep_table(rng: random.Random) -> Episode:
    """A generic record lookup: a fictional entity, one attribute asked."""
    fam = rng.choice(TABLES)
    _, _, arg, make, attrs = fam
    tool = table_tool(rng, fam)
    name = tool["function"]["name"]
    x = make(rng)
    record = {key: gen(rng) for key, gen, _, _ in attrs}
    key, _, q, a = rng.choice(attrs)
    obs = json.dumps({arg: x, **record}, ensure_ascii=False)
    return Episode("lookup", q.format(x=x), [tool]).call(name, {arg: x}, obs).answer(a.format(x=x, v=record[key]))


# ---- conversions ---------------------------------------------------------------------
LENGTH = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048, "mi": 1609.344}
MASS = {"g": 0.001, "kg": 1.0, "lb": 0.45359237, "oz": 0.028349523}
LONG = {"mm": "millimetres", "cm": "centimetres", "m": "metres", "km": "kilometres", "in": "inches", "ft": "feet",
        "mi": "miles", "g": "grams", "kg": "kilograms", "lb": "pounds", "oz": "ounces"}


def convert_tool(rng: random.Random, units: list[str]) -> dict[str, Any]:
    return spec(rng.choice(["convert", "unit_converter", "convert_measure"]), "Convert a quantity between units of length or mass.", [
        ("value", N("the amount to convert"), True), ("from_unit", E(units, "unit of the value"), True),
        ("to_unit", E(units, "unit to convert to"), True)])


def ep_convert(rng: random.Random) -> Episode:
    table = rng.choice([LENGTH, MASS])
    units = list(table)
    tool = convert_tool(rng, units)
    name = tool["function"]["name"]
    src, dst = rng.sample(units, 2)
    value = rng.choice([rng.randint(1, 500), round(rng.uniform(0.5, 99), 1)])
    result = format_number(round(value * table[src] / table[dst], 4))
    task = rng.choice([f"How many {LONG[dst]} are {value} {LONG[src]}?", f"Convert {value} {LONG[src]} to {LONG[dst]}.",
                       f"What is {value} {src} in {dst}?"])
    obs = f"{value} {src} = {result} {dst}"
    return (Episode("conversion", task, [tool]).call(name, {"value": value, "from_unit": src, "to_unit": dst}, obs)
            .answer(f"{value} {LONG[src]} is {result} {LONG[dst]}."))


def ep_currency(rng: random.Random) -> Episode:
    cur = ["USD", "EUR", "GBP", "JPY", "CHF", "INR", "BRL"]
    name = rng.choice(["convert_currency", "exchange", "fx_convert"])
    tool = spec(name, "Convert an amount of money from one currency to another at today's rate.", [
        ("amount", N("the amount of money"), True), ("from_currency", S("currency code, e.g. USD"), True),
        ("to_currency", S("currency code to convert to"), True)])
    a, b = rng.sample(cur, 2)
    amount = rng.randint(5, 5000)
    rate = round(rng.uniform(0.2, 3.0), 4)
    result = f"{amount * rate:.2f}"
    task = rng.choice([f"How much is {amount} {a} in {b}?", f"Convert {amount} {a} to {b}.", f"I have {amount} {a}. What is that in {b}?"])
    obs = f"{amount} {a} = {result} {b} (rate {rate})"
    return Episode("conversion", task, [tool]).call(name, {"amount": amount, "from_currency": a, "to_currency": b}, obs).answer(
        f"{amount} {a} is {result} {b}.")


# ---- actions with enum / optional / integer arguments ----------------------------------
def ep_action(rng: random.Random) -> Episode:
    kind = rng.randrange(4)
    if kind == 0:
        tool = spec("set_reminder", "Set a reminder that goes off after a number of minutes.", [
            ("message", S("what to remind about"), True), ("minutes", N("minutes from now", integer=True), True)])
        what = rng.choice(["call the dentist", "take the pizza out", "water the plants", "join the meeting", "feed the cat"])
        m = rng.choice([5, 10, 15, 20, 30, 45, 60, 90])
        return (Episode("action", f"Remind me to {what} in {m} minutes.", [tool])
                .call("set_reminder", {"message": what, "minutes": m}, f"Reminder set: '{what}' in {m} minutes.")
                .answer(f"Done: I will remind you to {what} in {m} minutes."))
    if kind == 1:
        langs = ["French", "German", "Spanish", "Italian", "Portuguese"]
        tool = spec("translate", "Translate a short text into another language.", [
            ("text", S("the text to translate"), True), ("target_language", E(langs, "language to translate into"), True)])
        word, lang = rng.choice(WORDS), rng.choice(langs)
        fake = fname(rng).lower()
        return (Episode("action", f"Translate the word '{word}' into {lang}.", [tool])
                .call("translate", {"text": word, "target_language": lang}, fake)
                .answer(f"'{word}' in {lang} is '{fake}'."))
    if kind == 2:
        tool = spec("order_status", "Get the delivery status of an order by its number.", [("order_id", N("the order number", integer=True), True)])
        oid = rng.randint(10000, 99999)
        status = rng.choice(["shipped", "delivered", "packed", "delayed", "out for delivery"])
        day = rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
        return (Episode("lookup", rng.choice([f"Where is my order {oid}?", f"What is the status of order #{oid}?"]), [tool])
                .call("order_status", {"order_id": oid}, f"Order {oid}: {status}, expected {day}")
                .answer(f"Order {oid} is {status}; it is expected on {day}."))
    tool = spec("search_flights", "Search flights between two cities on a date.", [
        ("origin", S("departure city"), True), ("destination", S("arrival city"), True),
        ("date", S("date as YYYY-MM-DD"), True), ("cabin", E(["economy", "business"], "cabin class"), False)])
    o, d = rng.sample(CITIES, 2)
    date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    cabin = rng.choice([None, "business", "economy"])
    price = rng.randint(60, 1500)
    task = f"Find a flight from {o} to {d} on {date}" + (f" in {cabin} class." if cabin else ".")
    args = {"origin": o, "destination": d, "date": date, **({"cabin": cabin} if cabin else {})}
    code = f"{rng.choice(['AX', 'LM', 'QT', 'RZ'])}{rng.randint(100, 999)}"
    return (Episode("action", task, [tool]).call("search_flights", args, f"{code} {o}-{d} {date} 09:40, {price} EUR")
            .answer(f"Flight {code} from {o} to {d} on {date} leaves at 09:40 and costs {price} EUR."))


# ---- built-ins: python, now, http_get -----------------------------------------------------
def run_py(code: str) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {})  # our own generated snippets only
    return buf.getvalue().strip()


PY = [  # (request, code)
    ("Use python to print the word '{w}' backwards.", "print('{w}'[::-1])"),
    ("With the python tool, print how many letters are in '{w}'.", "print(len('{w}'))"),
    ("Use python to print '{w}' in capital letters.", "print('{w}'.upper())"),
    ("Run python to count the letter '{c}' in '{w}'.", "print('{w}'.count('{c}'))"),
    ("Use python to print the sum of all integers from 1 to {n}.", "print(sum(range(1, {n} + 1)))"),
    ("Use python to sort these numbers: {lst}.", "print(sorted([{lst}]))"),
    ("With python, print the largest of {lst}.", "print(max([{lst}]))"),
    ("Use python to print the first {k} square numbers.", "print([i * i for i in range(1, {k} + 1)])"),
    ("Use python to print '{w}' repeated {k} times, separated by spaces.", "print(' '.join(['{w}'] * {k}))"),
    ("Use the python tool to print how many vowels '{w}' has.", "print(sum(ch in 'aeiou' for ch in '{w}'))"),
]


def ep_python(rng: random.Random) -> Episode:
    q, c = rng.choice(PY)
    w = rng.choice(WORDS)
    v = {"w": w, "c": rng.choice(sorted(set(w))), "n": rng.randint(5, 400), "k": rng.randint(3, 7),
         "lst": ", ".join(str(rng.randint(1, 99)) for _ in range(rng.randint(3, 6)))}
    code = c.format(**v)
    out = run_py(code)
    return Episode("python", q.format(**v), ["python"]).call("python", {"code": code}, out).answer(
        rng.choice([f"The result is {out}.", f"{out}", f"Python printed: {out}"]))


ZONES = {"Tokyo": "Asia/Tokyo", "Paris": "Europe/Paris", "New York": "America/New_York", "Sydney": "Australia/Sydney",
         "London": "Europe/London", "Sao Paulo": "America/Sao_Paulo", "Cairo": "Africa/Cairo"}


def now_obs(rng: random.Random, zone: str | None) -> tuple[dt.datetime, str]:
    moment = dt.datetime(rng.randint(2024, 2031), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    name = zone or "UTC"
    return moment, f"{moment.isoformat()}+00:00 ({moment:%A}, {moment:%d %B %Y}, {moment:%H:%M:%S} {name})"


def ep_now(rng: random.Random) -> Episode:
    ask = rng.randrange(4)
    city = rng.choice(list(ZONES)) if rng.random() < 0.4 else None
    zone = ZONES[city] if city else None
    moment, obs = now_obs(rng, zone)
    where = f" in {city}" if city else ""
    task, ans = [
        (rng.choice([f"What day of the week is it{where}?", f"Which weekday is it today{where}?"]), f"It is {moment:%A}."),
        (rng.choice([f"What time is it{where}?", f"Tell me the current time{where}."]), f"It is {moment:%H:%M}{where}."),
        (rng.choice([f"What is the date today{where}?", "Give me today's full date."]), f"Today is {moment:%d %B %Y}."),
        (rng.choice(["Tell me the current year.", "Which year are we in?", "What month is it?"]), None),
    ][ask]
    if ans is None:
        ans = f"It is {moment:%B} {moment.year}." if "month" in task else f"It is {moment.year}."
    return Episode("now", task, ["now"]).call("now", {"timezone": zone} if zone else {}, obs).answer(ans)


def ep_http(rng: random.Random) -> Episode:
    host = f"http://127.0.0.1:{rng.randint(8000, 9999)}"
    page = rng.randrange(3)
    if page == 0:
        code = f"{rng.randint(1000, 9999)}"
        path, text, q, a = f"/{rng.choice(WORDS)}.txt", f"The access code is {code}.", "and tell me the code it contains", f"The code is {code}."
    elif page == 1:
        col = rng.choice(COLOURS)
        path, text, q, a = f"/{rng.choice(WORDS)}/info.txt", f"The recommended colour is {col}.", "Which colour does it recommend?", f"It recommends {col}."
    else:
        town = fname(rng) + rng.choice(["burg", "ford", "port"])
        path, text, q, a = f"/notes/{rng.randint(1, 99)}.txt", f"The meeting will be held in {town}.", "Where is the meeting?", f"The meeting is in {town}."
    url = host + path
    task = rng.choice([f"Fetch {url} with http_get {q}" if page == 0 else f"Read {url} with http_get. {q}",
                       f"Use http_get on {url}. {q[0].upper() + q[1:] if page else 'What code does it contain?'}"])
    obs = f"HTTP 200 OK\nURL: {url}\nContent-Type: text/plain\n\n{text}"
    return Episode("http", task, ["http_get"]).call("http_get", {"url": url}, obs).answer(a)


# ---- no tool -----------------------------------------------------------------------
NO_TOOL = [
    ("What is the capital of Italy?", "Rome."), ("What is the capital of Japan? One word.", "Tokyo"),
    ("Name the capital of Spain.", "Madrid."), ("What is the capital of Germany?", "Berlin."),
    ("Which ocean lies between Europe and America?", "The Atlantic Ocean."), ("How many days are in a week?", "Seven."),
    ("What colour is grass? One word.", "green"), ("What colour are ripe bananas?", "Yellow."),
    ("Which animal barks? One word.", "dog"), ("Which animal says 'moo'?", "A cow."),
    ("What is the opposite of 'big'? One word.", "small"), ("What is the opposite of 'fast'?", "Slow."),
    ("What is the opposite of 'up'? One word.", "down"), ("Reply with the word 'no'.", "no"),
    ("Say the word 'ready'.", "ready"), ("Reply with 'ok'.", "ok"), ("Say good morning.", "Good morning!"),
    ("Say goodbye.", "Goodbye!"), ("Greet me.", "Hello! How can I help you?"), ("Hi!", "Hello! How can I help you today?"),
    ("Thank you!", "You're welcome!"), ("How are you?", "I'm fine, thank you. How can I help?"),
    ("What is your job?", "I am an assistant: I answer questions and use tools when a task needs them."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare."), ("What do bees make?", "Honey."),
    ("What is frozen water called?", "Ice."), ("How many legs does a spider have?", "Eight."),
    ("Which planet do we live on?", "Earth."), ("What is the largest planet in the solar system?", "Jupiter."),
    ("What gas do plants take in?", "Carbon dioxide."), ("Spell the word 'cat' backwards.", "tac"),
    ("Translate 'thank you' into French.", "Merci."), ("What is the plural of 'mouse'?", "Mice."),
    ("Which month comes after March?", "April."), ("What is the first letter of the alphabet?", "A."),
    ("Is the sun a star? Answer yes or no.", "yes"), ("Can fish breathe under water? yes or no", "yes"),
    ("Tell me a colour of the rainbow.", "Red."), ("What sound does a dog make?", "Woof."),
    ("Which season comes after winter?", "Spring."), ("Write the word 'tree' in capital letters.", "TREE"),
]


def ep_no_tool(rng: random.Random) -> Episode:
    q, a = rng.choice(NO_TOOL)
    return Episode("no_tool", q, []).answer(a)


# ---- two-step chains and errors ---------------------------------------------------------
CHAIN = [
    ("Multiply {a} by {s}, then subtract {b} from the result.", ["{a} * {s}", "{r0} - {b}"]),
    ("First add {a} and {b}, then divide the sum by {s}.", ["{a} + {b}", "{r0} / {s}"]),
    ("Take {s} to the power of 2 and then add {b}.", ["{s} ** 2", "{r0} + {b}"]),
    ("Compute {a} - {b}, then multiply that by {s}.", ["{a} - {b}", "{r0} * {s}"]),
    ("Find the square root of {sq} and then multiply it by {s}.", ["sqrt({sq})", "{r0} * {s}"]),
]
CHAIN_MORE = [
    ("Calculate {a} * {s}. After that, add {b} to it.", ["{a} * {s}", "{r0} + {b}"]),
    ("Start with {a} divided by {s}, then take away {b}.", ["{a} / {s}", "{r0} - {b}"]),
    ("Work out {b} squared, and then subtract {s} from that.", ["{b} ** 2", "{r0} - {s}"]),
    ("Add {a} and {b}. Then multiply the total by {s}.", ["{a} + {b}", "{r0} * {s}"]),
    ("First find {s} cubed, then divide the result by {f}.", ["{s} ** 3", "{r0} / {f}"]),
    ("Compute {a} minus {s}, and after that double it.", ["{a} - {s}", "{r0} * 2"]),
    ("Divide {p} by {b}; then add {s} to what you get.", ["{p} / {b}", "{r0} + {s}"]),
    ("I need {a} plus {b}, and then that total times {s}.", ["{a} + {b}", "{r0} * {s}"]),
    ("Take the square root of {sq}, then subtract {s}.", ["sqrt({sq})", "{r0} - {s}"]),
    ("Multiply {s} by {b}. Next, take {pc} percent of the product.", ["{s} * {b}", "{pc} / 100 * {r0}"]),
]


def ep_chain(rng: random.Random) -> Episode:
    kind = rng.randrange(6)
    if kind == 0:
        q, exprs = rng.choice(CHAIN + CHAIN_MORE)
        v = numbers(rng)
        e0 = exprs[0].format(**v)
        r0 = calc(e0)
        e1 = exprs[1].format(r0=r0, **v)
        r1 = calc(e1)
        return (Episode("chain", q.format(**v), ["calculator"]).call("calculator", {"expression": e0}, r0)
                .call("calculator", {"expression": e1}, r1).answer(f"The result is {r1}."))
    if kind == 1:  # lookup then calculate
        tool = spec("city_population", "Get the population of a town in the regional register.", [("town", S("the town to look up"), True)])
        t1, t2 = fname(rng) + "ville", fname(rng) + "dorf"
        p1, p2 = rng.randint(1000, 90000), rng.randint(1000, 90000)
        e = f"{p1} + {p2}"
        return (Episode("chain", f"What is the combined population of {t1} and {t2}?", [tool, "calculator"])
                .call("city_population", {"town": t1}, json.dumps({"town": t1, "population": p1}))
                .call("city_population", {"town": t2}, json.dumps({"town": t2, "population": p2}))
                .call("calculator", {"expression": e}, calc(e)).answer(f"Together they have {calc(e)} inhabitants."))
    if kind == 2:  # now then calculate
        moment, obs = now_obs(rng, None)
        target = rng.choice([2040, 2050, 2075, 2100])
        e = f"{target} - {moment.year}"
        return (Episode("chain", f"How many years are left until {target}? Check the current year first.", ["now", "calculator"])
                .call("now", {}, obs).call("calculator", {"expression": e}, calc(e)).answer(f"{calc(e)} years are left until {target}."))
    if kind == 3:  # a record lookup, then arithmetic on the value it returned
        name = rng.choice(["product_lookup", "get_product", "find_product"])
        tool = spec(name, "Get the price and stock of a product in the shop catalogue.", [("product", S("the product to look up"), True)])
        x = f"{rng.choice(COLOURS)} {rng.choice(WORDS)}"
        price, stock, k = rng.randint(2, 90), rng.randint(3, 400), rng.randint(2, 12)
        obs = json.dumps({"product": x, "price_usd": price, "in_stock": stock})
        if rng.random() < 0.5:
            e, task, ans = f"{price} * {k}", f"Look up the {x} and tell me what {k} of them cost.", "{r} USD for {k}."
        else:
            e, task, ans = f"{stock} - {k}", f"Check how many {x}s are in stock, then tell me how many are left after selling {k}.", "{r} are left."
        return (Episode("chain", task, [tool, "calculator"]).call(name, {"product": x}, obs)
                .call("calculator", {"expression": e}, calc(e)).answer(ans.format(r=calc(e), k=k)))
    if kind == 4:  # a conversion, then arithmetic on the converted value
        units = list(LENGTH)
        tool = spec("convert", "Convert a quantity between units of length or mass.", [
            ("value", N("the amount to convert"), True), ("from_unit", E(units, "unit of the value"), True),
            ("to_unit", E(units, "unit to convert to"), True)])
        value, k = rng.randint(2, 90), rng.randint(2, 9)
        src, dst = rng.choice([("mi", "km"), ("km", "mi"), ("ft", "m"), ("in", "cm")])
        conv = format_number(round(value * LENGTH[src] / LENGTH[dst], 4))
        e = f"{conv} * {k}"
        return (Episode("chain", f"Convert {value} {LONG[src]} to {LONG[dst]}, then multiply the result by {k}.", [tool, "calculator"])
                .call("convert", {"value": value, "from_unit": src, "to_unit": dst}, f"{value} {src} = {conv} {dst}")
                .call("calculator", {"expression": e}, calc(e)).answer(f"The result is {calc(e)} {LONG[dst]}."))
    w = rng.choice(WORDS)  # python then calculate
    k = rng.randint(2, 9)
    n = len(w)
    e = f"{n} * {k}"
    return (Episode("chain", f"Use python to get the length of '{w}', then multiply it by {k}.", ["python", "calculator"])
            .call("python", {"code": f"print(len('{w}'))"}, str(n)).call("calculator", {"expression": e}, calc(e))
            .answer(f"The result is {calc(e)}."))


def calculator_error(expression: str) -> str:
    """The real message the calculator gives for a bad expression (as the agent shows it)."""
    from augment.errors import ToolError

    try:
        builtin("calculator").call({"expression": expression})
    except ToolError as e:
        return str(e)
    raise ValueError(f"{expression!r} did not fail")


def ep_error(rng: random.Random) -> Episode:
    if rng.random() < 0.5:  # bad expression, then the fixed one
        a, b = rng.randint(12, 99), rng.randint(3, 30)
        unit = rng.choice(["km", "kg", "euros", "apples", "hours", "metres"])
        words = rng.choice([(f"{a} times {b}", f"{a} * {b}", f"What is {a} times {b}?"),
                            (f"{a} plus {b}", f"{a} + {b}", f"What is {a} plus {b}?"),
                            (f"{a} minus {b}", f"{a} - {b}", f"What is {a} minus {b}?"),
                            (f"{a} {unit} * {b}", f"{a} * {b}", f"Each box weighs {a} {unit}. What do {b} boxes weigh?"),
                            (f"{a} {unit} + {b} {unit}", f"{a} + {b}", f"I have {a} {unit} and get {b} {unit} more. How many now?"),
                            (f"{a} mod {b}", f"{a} % {b}", f"What is {a} mod {b}?")])
        r = calc(words[1])
        err = f"Error: {calculator_error(words[0])}"
        return (Episode("error", words[2], ["calculator"]).call("calculator", {"expression": words[0]}, err)
                .call("calculator", {"expression": words[1]}, r).answer(f"The answer is {r}."))
    tool = spec("get_weather", "Get the current weather in a city.", [("city", S("the city name"), True)])
    city = fname(rng, 3)
    return (Episode("error", f"What's the weather in {city}?", [tool])
            .call("get_weather", {"city": city}, f"Error: unknown city '{city}'")
            .answer(f"I could not find weather for {city}: the weather service does not know that city."))


KINDS: list[tuple[Callable[[random.Random], Episode], float]] = [
    (ep_direct, 1.3), (ep_prose, 1.6), (ep_weather, 0.5), (ep_table, 1.3), (ep_convert, 0.8), (ep_currency, 0.5),
    (ep_action, 0.9), (ep_python, 0.9), (ep_now, 0.7), (ep_http, 0.5), (ep_no_tool, 1.4), (ep_chain, 2.2),
    (ep_error, 0.8),
]

DISTRACTORS = [BUILTIN["calculator"], BUILTIN["python"], BUILTIN["now"], BUILTIN["http_get"],
               spec("get_weather", "Get the current weather in a city.", [("city", S("the city name"), True)]),
               spec("send_email", "Send an email.", [("to", S("recipient address"), True), ("subject", S("subject line"), True),
                                                      ("body", S("message text"), True)]),
               spec("search_web", "Search the web and return the top results.", [("query", S("what to search for"), True)]),
               spec("play_music", "Play a song or an artist.", [("query", S("song or artist"), True),
                                                                ("shuffle", {"type": "boolean", "description": "shuffle the queue"}, False)])]


def near_distractor(rng: random.Random) -> dict[str, Any]:
    """A record lookup or a unit converter: tools that look useful for many requests."""
    if rng.random() < 0.6:
        return table_tool(rng, rng.choice(TABLES))
    return convert_tool(rng, list(rng.choice([LENGTH, MASS])))


def tool_set(rng: random.Random, needed: list[Any], near: float = 0.0) -> list[dict[str, Any]]:
    """The tools on offer: the needed ones, 1-3 distractors, and with probability ``near`` a lookup or
    converter that is not the tool to call (so the model learns to read what each tool is for)."""
    tools = [BUILTIN[t] if isinstance(t, str) else t for t in needed]
    names = {t["function"]["name"] for t in tools}
    pool = [d for d in DISTRACTORS if d["function"]["name"] not in names]
    extra = rng.sample(pool, k=min(len(pool), rng.choice([1, 1, 2, 2, 3])))
    if near and rng.random() < near:
        other = near_distractor(rng)
        if other["function"]["name"] not in names and all(other["function"]["description"] != t["function"]["description"]
                                                          for t in tools):
            extra = extra[:-1] + [other]
    tools += extra
    rng.shuffle(tools)
    return tools


# ---- records -------------------------------------------------------------------------
def record(ep: Episode, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole episode as one record, built as :class:`augment.Agent` builds its conversation;
    fine-tuning learns every assistant turn of it, each after the exact prompt the agent renders."""
    msgs = [Message.system(DEFAULT_SYSTEM_PROMPT), Message.user(ep.task)]
    for turn in ep.turns:
        if turn[0] == "answer":
            msgs.append(Message.assistant(turn[1]))
        else:
            call, obs = turn[1], turn[2]
            msgs += [Message.assistant("", [call]), Message.tool(obs, tool_call_id=call.id, name=call.name)]
    return {"kind": ep.kind, "messages": [m.to_dict() for m in msgs], "tools": tools, "tool_choice": "auto"}


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip()


def held_out_tasks(paths: list[Path]) -> set[str]:
    tasks = set()
    for p in paths:
        for line in p.read_text().splitlines():
            if line.strip():
                tasks.add(normalise(json.loads(line)["task"]))
    return tasks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=520)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--exclude", type=Path, action="append", default=[], help="another task file to keep out")
    ap.add_argument("--near-distractors", type=float, default=0.0, metavar="P",
                    help="offer a lookup or converter that is not the tool to call in this share of episodes")
    ap.add_argument("--focus", default=None, help="weights per kind, e.g. chain=4,no_tool=2 (others keep theirs)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    held = held_out_tasks(EVAL_SETS + [p for p in args.exclude])
    focus = dict(kv.split("=") for kv in args.focus.split(",")) if args.focus else {}
    fns, weights = zip(*[(fn, float(focus.get(fn.__name__.removeprefix("ep_"), w))) for fn, w in KINDS])
    rows, seen, skipped = [], set(), 0
    while len(seen) < args.episodes:
        ep = rng.choices(fns, weights)[0](rng)
        key = normalise(ep.task)
        if key in held:
            skipped += 1
            continue
        if key in seen and ep.kind != "no_tool":
            continue
        seen.add(key + str(len(seen)) if ep.kind == "no_tool" else key)
        rows.append(record(ep, tool_set(rng, ep.tools, args.near_distractors)))
    kinds = write_records(rows, args.out)
    # the closest held-out task by word overlap, to show how far the training set stays from the evaluation
    train_tasks = {normalise(r["messages"][1]["content"]) for r in rows}
    best = max(((len(set(t.split()) & set(h.split())) / len(set(t.split()) | set(h.split())), t, h)
                for t in train_tasks for h in held), default=(0.0, "", ""))
    print(json.dumps({"records": len(rows), "by_kind": kinds, "held_out_exact_matches_skipped": skipped,
                      "held_out_tasks": len(held), "max_jaccard_to_held_out": round(best[0], 3),
                      "closest_pair": [best[1], best[2]], "out": str(args.out)}))


if __name__ == "__main__":
    main()
