"""Split a docstring into a description and per-argument help.

Understands the three common styles:

- Google: an ``Args:`` (or ``Arguments:``, ``Parameters:``) section with
  ``name (type): help`` lines, continuation lines indented deeper;
- NumPy: a ``Parameters`` heading underlined with dashes, ``name : type`` lines
  followed by indented help;
- reST / Sphinx: ``:param name: help`` (or ``:param type name: help``) fields.

>>> doc = '''Add two numbers.
...
... Args:
...     a: the first number
...     b (int): the second
...         number
... '''
>>> parse_docstring(doc)
('Add two numbers.', {'a': 'the first number', 'b': 'the second number'})
"""

from __future__ import annotations

import inspect
import re

__all__ = ["parse_docstring"]

_GOOGLE_ARGS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "kwargs"}
_GOOGLE_OTHER = {
    "returns", "return", "yields", "yield", "raises", "raise", "examples", "example", "note", "notes",
    "attributes", "see also", "warning", "warnings", "references", "todo", "other parameters",
}
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*(?::.*)?$")
_REST_FIELD = re.compile(r"^:(param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")
_REST_ANY = re.compile(r"^:[A-Za-z]+[^:]*:")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return ``(description, {argument: help})`` for a docstring in Google, NumPy or reST style."""
    if not doc:
        return "", {}
    raw = doc.expandtabs().splitlines()
    if raw and _GOOGLE_HEADER.match(raw[0].strip()):
        # """Args:  (a section on the docstring's first line): indent it like the lines below it
        rest = [line for line in raw[1:] if line.strip()]
        base = min((_indent(line) for line in rest), default=4)
        pad = " " * max(4 - base, 0)  # already dedented (inspect.getdoc): indent the items under the header
        raw = ["", " " * max(base - 4, 0) + raw[0].strip()] + [pad + line for line in raw[1:]]
    lines = inspect.cleandoc("\n".join(raw)).splitlines()
    args: dict[str, str] = {}
    desc_end = len(lines)

    # reST fields
    current: str | None = None
    for i, line in enumerate(lines):
        m = _REST_FIELD.match(line.strip())
        if m:
            desc_end = min(desc_end, i)
            current = m.group(2)
            args[current] = m.group(3).strip()
        elif _REST_ANY.match(line.strip()):
            desc_end = min(desc_end, i)
            current = None
        elif current is not None and line.strip() and _indent(line) > 0:
            args[current] = _join([args[current], line])
        else:
            current = None

    # NumPy sections: a title line followed by a line of dashes
    i = 0
    while i < len(lines) - 1:
        title, underline = lines[i].strip(), lines[i + 1].strip()
        if title and underline and set(underline) == {"-"}:
            desc_end = min(desc_end, i)
            if title.lower() in {"parameters", "other parameters", "keyword arguments"}:
                j, name = i + 2, None
                while j < len(lines):
                    line = lines[j]
                    if j + 1 < len(lines) and lines[j + 1].strip() and set(lines[j + 1].strip()) == {"-"}:
                        break
                    if line.strip() and _indent(line) == 0:
                        m = _NUMPY_ITEM.match(line.strip())
                        name = m.group(1) if m else None
                        if name:
                            for n in re.split(r"\s*,\s*", name):
                                args.setdefault(n, "")
                    elif line.strip() and name:
                        for n in re.split(r"\s*,\s*", name):
                            args[n] = _join([args[n], line])
                    j += 1
                i = j
                continue
        i += 1

    # Google sections
    i = 0
    while i < len(lines):
        m = _GOOGLE_HEADER.match(lines[i].strip())
        title = m.group(1).strip().lower() if m else ""
        if m and (title in _GOOGLE_ARGS or title in _GOOGLE_OTHER) and _indent(lines[i]) == 0:
            desc_end = min(desc_end, i)
            if title in _GOOGLE_ARGS:
                j, name, base = i + 1, None, None
                while j < len(lines):
                    line = lines[j]
                    if line.strip() and _indent(line) == 0:
                        break
                    if line.strip():
                        base = _indent(line) if base is None else base
                        item = _GOOGLE_ITEM.match(line.strip())
                        if _indent(line) <= base and item:
                            name = item.group(1)
                            args[name] = item.group(2).strip()
                        elif name:
                            args[name] = _join([args[name], line])
                    j += 1
                i = j
                continue
        i += 1

    for i, line in enumerate(lines[:desc_end]):
        if line.lstrip().startswith(">>>"):
            desc_end = i
            break
    description = "\n".join(lines[:desc_end]).strip()
    return description, args
