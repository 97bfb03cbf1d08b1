"""The examples in the tools' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "augment.tools", "augment.tools.base", "augment.tools.docstrings", "augment.tools.registry",
    "augment.tools.calculator", "augment.tools.python", "augment.tools.http", "augment.tools.now",
    "augment.tools.retrieve", "augment.langchain.tools",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
