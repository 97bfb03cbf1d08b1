"""Alignment and safety: helpful, honest, harmless, measured.

- harmless: :class:`ContentPolicy` (input/output policies: patterns, embedding similarity,
  an optional LLM judge), :func:`redact` (emails, phones, cards, keys), tool
  permissions (:class:`ToolPolicy`, :class:`ToolGuard`, :class:`AuditLog`, approval
  with :class:`PausedRun`), injection marking (:func:`mark_data`, :class:`DataTracker`),
  the python tool's sandbox check (:func:`run_escape_suite`);
- honest: :class:`GroundingChecker` (per-sentence support, hallucination rate);
- helpful: :func:`refusal_rate`;
- :class:`Guard` wraps an LLM, a RAG chatbot or an agent with all of it.

>>> from augment.guard import redact
>>> redact("mail me at bob@example.com")
'mail me at [EMAIL]'
"""

from __future__ import annotations

from augment._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "Guard": "augment.guard.guard",
    "GuardedRun": "augment.guard.guard",
    "ContentPolicy": "augment.guard.content",
    "Verdict": "augment.guard.content",
    "redact": "augment.guard.pii",
    "find_pii": "augment.guard.pii",
    "ToolPolicy": "augment.guard.permissions",
    "ToolGuard": "augment.guard.permissions",
    "ToolRequest": "augment.guard.permissions",
    "AuditLog": "augment.guard.permissions",
    "PausedRun": "augment.guard.permissions",
    "DataTracker": "augment.guard.injection",
    "mark_data": "augment.guard.injection",
    "DATA_NOTICE": "augment.guard.injection",
    "GroundingChecker": "augment.guard.grounding",
    "GroundingReport": "augment.guard.grounding",
    "refusal_rate": "augment.guard.helpful",
    "is_refusal": "augment.guard.helpful",
    "run_escape_suite": "augment.guard.escapes",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
