"""Tools of a second held-out "new user" agent set: a shop catalogue, a measure converter, two built-ins.

Written on 2026-12-05 before the adapter experiment it was made to judge (a tuning run that offers
look-alike tools as distractors), and used once per adapter: nothing here was tuned on it. The
catalogue belongs to an invented shop, so the model cannot know its prices without the tool; the
converter's arguments (``quantity``, ``source_unit``, ``target_unit``) are named unlike any converter
in the tuning data.

    augment eval agent tests/data/agent_fresh/tasks.jsonl --tools tests/data/agent_fresh/tools.py
"""

from __future__ import annotations

import re

from augment.tools import builtin, tool

CATALOGUE = {  # item -> (price in dollars, units in stock)
    "claw hammer": (24, 31),
    "garden hose": (19, 46),
    "box of wood screws": (7, 120),
    "cordless drill": (139, 9),
    "paint roller": (6, 58),
    "bag of cement": (11, 75),
    "ladder": (89, 4),
    "toolbox": (35, 17),
}


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", text.lower()) if w not in {"a", "of", "the", "an"}}


@tool
def catalog(item: str) -> str:
    """Look up an item in the Harbor Hardware shop catalogue: its price in dollars and how many are in stock.

    Args:
        item: the item's name, e.g. "hammer"
    """
    words = _words(item)
    best = max(CATALOGUE, key=lambda k: len(words & _words(k)))
    if not words & _words(best):
        return f"Harbor Hardware has no item matching {item!r}. Items: {', '.join(CATALOGUE)}."
    price, stock = CATALOGUE[best]
    return f"{best}: {price} dollars, {stock} in stock"


_FACTORS = {  # unit -> (dimension, factor to the base unit)
    "km": ("length", 1000.0), "m": ("length", 1.0), "cm": ("length", 0.01), "mi": ("length", 1609.344),
    "in": ("length", 0.0254), "ft": ("length", 0.3048),
    "kg": ("mass", 1.0), "lb": ("mass", 0.45359237), "g": ("mass", 0.001),
    "l": ("volume", 1.0), "gal": ("volume", 3.785411784), "ml": ("volume", 0.001),
}
_NAMES = {"kilometre": "km", "kilometer": "km", "metre": "m", "meter": "m", "centimetre": "cm", "centimeter": "cm",
          "mile": "mi", "inch": "in", "inche": "in", "foot": "ft", "feet": "ft", "kilogram": "kg", "kilo": "kg",
          "pound": "lb", "lbs": "lb", "gram": "g", "litre": "l", "liter": "l", "gallon": "gal", "millilitre": "ml",
          "milliliter": "ml"}


def _unit(name: str) -> str:
    u = name.strip().lower()
    u = _NAMES.get(u, _NAMES.get(u.rstrip("s"), u))
    if u not in _FACTORS:
        raise ValueError(f"unknown unit {name!r}; known units: {', '.join(_FACTORS)}")
    return u


@tool
def measure_convert(quantity: float, source_unit: str, target_unit: str) -> str:
    """Convert a measurement of length, mass or volume to another unit.

    Args:
        quantity: how much of the source unit
        source_unit: the unit the quantity is in (km, m, cm, mi, in, ft, kg, lb, g, l, gal, ml)
        target_unit: the unit wanted
    """
    a, b = _unit(source_unit), _unit(target_unit)
    if _FACTORS[a][0] != _FACTORS[b][0]:
        raise ValueError(f"cannot convert {_FACTORS[a][0]} ({source_unit}) to {_FACTORS[b][0]} ({target_unit})")
    return f"{quantity:g} {source_unit} = {round(quantity * _FACTORS[a][1] / _FACTORS[b][1], 2):g} {target_unit}"


calculator = builtin("calculator")
now = builtin("now")
