"""calculator: a safe AST evaluator with limits."""

from __future__ import annotations

import math
import time

import pytest

from augment.errors import ToolError
from augment.tools import builtin
from augment.tools.calculator import CalculatorError, evaluate


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("2 + 3 * 4", "14"),
        ("(2 + 3) * 4", "20"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("2 ** 10", "1024"),
        ("-(3 - 5)", "2"),
        ("+4", "4"),
        ("sqrt(16)", "4.0"),
        ("round(pi, 4)", "3.1416"),
        ("log(e)", "1.0"),
        ("max(1, 5, 3) - min(4, 2)", "3"),
        ("factorial(10)", "3628800"),
        ("0.1 + 0.2", "0.3"),
        ("2 × 3 ÷ 4", "1.5"),
        ("1e3 * 2", "2000.0"),
        ("2 ** -1", "0.5"),
    ],
)
def test_arithmetic(expression, expected):
    assert builtin("calculator").call({"expression": expression}) == expected


def test_power_tower_refused_fast():
    calc = builtin("calculator")
    start = time.monotonic()
    with pytest.raises(CalculatorError, match=r"9 \*\* 387420489 would have about 369693100 digits"):
        calc.call({"expression": "9**9**9"})
    assert time.monotonic() - start < 0.5
    with pytest.raises(CalculatorError, match="over 1000 digits"):
        calc.call({"expression": "10 ** 5000"})
    with pytest.raises(CalculatorError, match="too large for a floating-point"):
        calc.call({"expression": "2.5 ** 5000"})
    assert calc.call({"expression": "10 ** 999"}) == "1" + "0" * 999  # just under the limit


@pytest.mark.parametrize(
    "expression, match",
    [
        ("__import__('os')", "calling '__import__' is not allowed in the calculator"),
        ("__import__('os').system('echo hi')", "not allowed"),
        ("().__class__", r"not allowed"),
        ("open('/etc/passwd')", "calling 'open' is not allowed"),
        ("x + 1", "the name 'x' is not allowed"),
        ("'a' * 3", "the value 'a' is not allowed"),
        ("[1, 2]", "not allowed"),
        ("2 ^ 3", r"operator '\^' is not allowed \(use \*\* for powers\)"),
        ("1 << 100000", "operator '<<' is not allowed"),
        ("lambda: 1", "not allowed"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** 0.5", "complex number"),
        ("factorial(100000)", "factorial is limited"),
        ("True + 1", "the value True is not allowed"),
        ("round(2.5, ndigits=1)", "only positional arguments"),
        ("2 +", "not a valid expression"),
        ("", "empty"),
        ("1+" * 300 + "1", "characters long; the limit is 500"),
    ],
)
def test_refusals_are_clear(expression, match):
    with pytest.raises(ToolError, match=match):
        builtin("calculator").call({"expression": expression})


def test_refusal_lists_what_is_allowed():
    with pytest.raises(CalculatorError) as info:
        evaluate("__import__('os')")
    assert "only numbers, + - * / // % **" in str(info.value) and "sqrt" in str(info.value)


def test_config_limits():
    calc = builtin("calculator", max_length=10, max_digits=5)
    assert calc.call({"expression": "99999"}) == "99999"
    with pytest.raises(CalculatorError, match="more than 5 digits"):
        calc.call({"expression": "99999 * 9"})
    with pytest.raises(CalculatorError, match="limit is 10"):
        calc.call({"expression": "1 + 1 + 1 + 1"})
    assert evaluate("tau / 2") == math.pi
    assert evaluate("(" * 120 + "-" * 200 + "1" + ")" * 120) == 1  # deep but short nesting is fine
