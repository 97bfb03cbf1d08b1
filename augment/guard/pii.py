"""PII redaction: emails, phone numbers, payment card numbers, API keys and secrets, US SSNs.

>>> redact("Mail ana@example.org or call +1 (415) 555-0132; card 4111 1111 1111 1111; key sk-abc123def456ghi789jkl")
'Mail [EMAIL] or call [PHONE]; card [CARD]; key [KEY]'
"""

from __future__ import annotations

import re

__all__ = ["redact", "find_pii", "PII_PATTERNS"]

_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abpors]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}|hf_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
    r"|(?<=[=:] )[A-Za-z0-9+/_-]{32,}(?=\s|$)|(?i:(?<=api[_-]key=)|(?<=token=)|(?<=secret=)|(?<=password=))[^\s&\"']{6,}")
#: name -> (pattern, replacement); applied in this order
PII_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "key": (_KEY, "[KEY]"),
    "email": (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[EMAIL]"),
    "card": (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), "[CARD]"),
    "ssn": (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    "phone": (re.compile(r"(?<![\w+.])(?<!\d[ -])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}\b(?![.:]\d|[ -]\d)"),
              "[PHONE]"),
}


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pii(text: str) -> list[tuple[str, str]]:
    """``[(kind, matched text)]`` for every piece of personal data or secret in ``text``."""
    found = []
    for kind, (pattern, _) in PII_PATTERNS.items():
        for m in pattern.finditer(text):
            if kind == "card" and not _luhn(re.sub(r"\D", "", m.group(0))):
                continue
            found.append((kind, m.group(0)))
    return found


def redact(text: str) -> str:
    """``text`` with personal data and secrets replaced by ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[KEY]``, ``[SSN]``."""
    for kind, (pattern, label) in PII_PATTERNS.items():
        if kind == "card":
            text = pattern.sub(lambda m: label if _luhn(re.sub(r"\D", "", m.group(0))) else m.group(0), text)
        else:
            text = pattern.sub(label, text)
    return text
