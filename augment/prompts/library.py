"""Packaged task templates (classification, extraction, QA, summarization, translation).

Each is a plain text file in ``augment/prompts/templates/`` (``[role]``
header lines, ``{variables}``), so you can read exactly what is sent:

>>> from augment.prompts.library import load_template, TEMPLATE_NAMES
>>> TEMPLATE_NAMES
['classification', 'extraction', 'qa', 'summarization', 'translation']
>>> t = load_template("translation")
>>> t.render(source="English", target="Japanese", text="Apple")[-1].content
'Translate from English to Japanese.\\nApple ->'
"""

from __future__ import annotations

from importlib import resources

from augment.errors import TemplateError
from augment.prompts.template import PromptTemplate

__all__ = ["TEMPLATE_NAMES", "load_template", "template_text"]

TEMPLATE_NAMES = ["classification", "extraction", "qa", "summarization", "translation"]


def template_text(name: str) -> str:
    """The raw text of a packaged template."""
    if name not in TEMPLATE_NAMES:
        raise TemplateError(f"no packaged template {name!r}; choose one of {TEMPLATE_NAMES}")
    return resources.files("augment.prompts").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")


def load_template(name: str) -> PromptTemplate:
    """A packaged task template as a :class:`PromptTemplate`."""
    return PromptTemplate.from_text(template_text(name), name=name)
