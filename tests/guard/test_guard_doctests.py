"""The examples in augment.guard's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "augment.guard", "augment.guard.guard", "augment.guard.permissions", "augment.guard.content", "augment.guard.pii",
    "augment.guard.injection", "augment.guard.grounding", "augment.guard.helpful", "augment.guard.attacks",
    "augment.guard.escapes", "augment.tools.sandbox",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
