"""Tools of the held-out "new user" agent set: a fact table, a unit converter, and two built-ins.

Load them with ``augment eval agent tests/data/agent_custom/tasks.jsonl --tools tests/data/agent_custom/tools.py``
(every module-level tool of this file is used: lookup, convert_units, calculator, now).
The facts describe an invented town, so the model cannot know them without the tool.
"""

from __future__ import annotations

import re

from augment.tools import builtin, tool

FACTS = {
    "millbrook population": "18,450 people",
    "millbrook city hall architect": "Ines Varga",
    "millbrook museum founding year": "1887",
    "silver creek length": "27 km",
    "mount arden height": "2,314 m",
    "lumen lamp price": "42 euros",
    "orbit bike price": "380 euros",
    "green line tram stops": "22 stops",
    "pine school pupils": "640 pupils",
    "north ferry crossing time": "35 minutes",
}

_STOP = {"the", "of", "a", "an", "in", "is", "what", "how", "many", "much", "does", "do", "for", "to", "was", "who"}


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


@tool
def lookup(query: str) -> str:
    """Look up a fact about the town of Millbrook (people, places, prices, sizes, dates).

    Args:
        query: the fact to look up, in a few words
    """
    words = _words(query)
    best = max(FACTS, key=lambda k: len(words & _words(k)))
    if not words & _words(best):
        return f"No fact matches {query!r}. Known facts: {', '.join(FACTS)}."
    return f"{best}: {FACTS[best]}"


_UNITS = {  # unit -> (dimension, factor to the base unit)
    "km": ("length", 1000.0), "m": ("length", 1.0), "cm": ("length", 0.01), "mi": ("length", 1609.344),
    "ft": ("length", 0.3048), "in": ("length", 0.0254),
    "kg": ("mass", 1.0), "g": ("mass", 0.001), "lb": ("mass", 0.45359237), "oz": ("mass", 0.028349523125),
    "l": ("volume", 1.0), "ml": ("volume", 0.001), "gal": ("volume", 3.785411784),
    "c": ("temperature", 1.0), "f": ("temperature", 1.0),
}
_ALIASES = {"kilometre": "km", "kilometer": "km", "metre": "m", "meter": "m", "centimetre": "cm", "centimeter": "cm",
            "mile": "mi", "foot": "ft", "feet": "ft", "inch": "in", "inche": "in", "kilogram": "kg", "kilo": "kg",
            "gram": "g", "pound": "lb", "lbs": "lb", "ounce": "oz", "litre": "l", "liter": "l", "millilitre": "ml",
            "milliliter": "ml", "gallon": "gal", "celsius": "c", "fahrenheit": "f", "°c": "c", "°f": "f"}


def _unit(name: str) -> str:
    u = name.strip().lower().replace("degrees ", "").replace("degree ", "")
    u = _ALIASES.get(u, _ALIASES.get(u.rstrip("s"), u))
    if u not in _UNITS:
        raise ValueError(f"unknown unit {name!r}; known units: {', '.join(_UNITS)}")
    return u


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length, mass, volume or temperature.

    Args:
        value: the number to convert
        from_unit: the unit of the value (km, m, cm, mi, ft, in, kg, g, lb, oz, l, ml, gal, c, f)
        to_unit: the unit to convert to
    """
    a, b = _unit(from_unit), _unit(to_unit)
    if _UNITS[a][0] != _UNITS[b][0]:
        raise ValueError(f"cannot convert {_UNITS[a][0]} ({from_unit}) to {_UNITS[b][0]} ({to_unit})")
    if _UNITS[a][0] == "temperature":
        celsius = value if a == "c" else (value - 32) * 5 / 9
        result = celsius if b == "c" else celsius * 9 / 5 + 32
    else:
        result = value * _UNITS[a][1] / _UNITS[b][1]
    return f"{value:g} {from_unit} = {round(result, 2):g} {to_unit}"


calculator = builtin("calculator")
now = builtin("now")
