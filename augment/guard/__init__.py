"""Alignment and safety: tool permissions, an audit log, a sandbox check, injection marking,
input/output policies, PII redaction, grounding and refusal-rate checks, and :class:`Guard`.

>>> from augment.guard import Permission
>>> Permission.NETWORK.value
'network'
"""

from __future__ import annotations

from augment._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "run_escape_suite": "augment.guard.escapes",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
