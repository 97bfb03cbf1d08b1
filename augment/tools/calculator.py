"""``calculator``: arithmetic through a safe AST evaluator (never ``eval``).

Only numbers, ``+ - * / // % **``, unary signs, parentheses and the math
functions and constants listed in :data:`FUNCTIONS` / :data:`CONSTANTS` are
allowed; expression length, exponent size and result size are limited, so
``9**9**9`` is refused at once instead of running for hours.

>>> from augment.tools.calculator import Calculator, evaluate
>>> evaluate("2 + 3 * (4 - 1) ** 2")
29
>>> Calculator().call({"expression": "round(pi, 3)"})
'3.142'
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

from augment.errors import ToolError
from augment.tools.base import Tool

__all__ = ["Calculator", "evaluate", "CalculatorError", "FUNCTIONS", "CONSTANTS"]


class CalculatorError(ToolError, ValueError):
    """The expression is not allowed or cannot be computed; the message says why."""


def _limited(fn: Callable[..., Any], limit: int, what: str) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        if any(isinstance(a, (int, float)) and abs(a) > limit for a in args):
            raise CalculatorError(f"{what} is limited to arguments up to {limit}")
        return fn(*args)
    return wrapper


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "round": round, "min": min, "max": max,
    "sqrt": math.sqrt, "cbrt": getattr(math, "cbrt", lambda x: math.copysign(abs(x) ** (1 / 3), x)),
    "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2, "ln": math.log,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot,
    "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc, "fabs": math.fabs,
    "gcd": math.gcd, "lcm": math.lcm,
    "factorial": _limited(math.factorial, 1000, "factorial"),
    "comb": _limited(math.comb, 10_000, "comb"), "perm": _limited(math.perm, 10_000, "perm"),
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
            ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}
_ALLOWED = "numbers, + - * / // % **, parentheses, the constants " + ", ".join(CONSTANTS) + " and the functions " + ", ".join(FUNCTIONS)


def _refuse(what: str) -> CalculatorError:
    return CalculatorError(f"{what} is not allowed in the calculator; only {_ALLOWED} are")


class _Evaluator:
    def __init__(self, max_digits: int):
        self.max_bits = int(max_digits * math.log2(10)) + 1
        self.max_digits = max_digits

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, complex):
                raise CalculatorError("the result is a complex number, which the calculator does not handle")
            raise CalculatorError(f"the result {value!r} is not a number")
        if isinstance(value, int) and value.bit_length() > self.max_bits:
            raise CalculatorError(f"the result has more than {self.max_digits} digits; the calculator refuses numbers that large")
        return value

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise _refuse(f"the value {node.value!r}")
            return self.check(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            value = self.visit(node.operand)
            return self.check(-value if isinstance(node.op, ast.USub) else +value)
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op not in _BINOPS:
                hint = " (use ** for powers)" if op is ast.BitXor else ""
                raise CalculatorError(f"the operator '{_SYMBOLS.get(op, op.__name__)}' is not allowed{hint}; only {_ALLOWED} are")
            left, right = self.visit(node.left), self.visit(node.right)
            if op is ast.Pow:
                self.check_power(left, right)
            try:
                return self.check(_BINOPS[op](left, right))
            except ZeroDivisionError:
                raise CalculatorError("division by zero") from None
            except OverflowError:
                raise CalculatorError("the result is too large for a floating-point number") from None
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise _refuse(f"the name '{node.id}'")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS:
                label = name or ast.unparse(node.func)
                raise _refuse(f"calling '{label}'")
            if node.keywords:
                raise CalculatorError(f"{name}() takes only positional arguments in the calculator")
            args = [self.visit(a) for a in node.args]
            try:
                return self.check(FUNCTIONS[name](*args))
            except CalculatorError:
                raise
            except (ValueError, TypeError, OverflowError, ZeroDivisionError) as e:
                raise CalculatorError(f"{name}({', '.join(map(repr, args))}) failed: {e}") from None
        raise _refuse(f"the construct '{ast.unparse(node)}' ({type(node).__name__})")

    def check_power(self, base: Any, exponent: Any) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            bits = exponent * math.log2(abs(base))
            if bits > self.max_bits:
                raise CalculatorError(
                    f"{base} ** {exponent} would have about {int(bits / math.log2(10)) + 1} digits; "
                    f"the calculator refuses results over {self.max_digits} digits"
                )
        if isinstance(exponent, (int, float)) and abs(exponent) > 10_000 and abs(base) not in (0, 1):
            raise CalculatorError(f"the exponent {exponent} is too large (at most 10000)")


def evaluate(expression: str, max_length: int = 500, max_digits: int = 1000) -> int | float:
    """Evaluate an arithmetic expression safely; raise :class:`CalculatorError` with the reason."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError("the expression is empty; give an arithmetic expression such as '2 * (3 + 4)'")
    if len(expression) > max_length:
        raise CalculatorError(f"the expression is {len(expression)} characters long; the limit is {max_length}")
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise CalculatorError(f"'{expression}' is not a valid expression ({e.msg}); write e.g. '2 * (3 + 4)'") from None
    except (RecursionError, MemoryError):
        raise CalculatorError("the expression is nested too deeply") from None
    try:
        return _Evaluator(max_digits).visit(tree)
    except RecursionError:
        raise CalculatorError("the expression is nested too deeply") from None


def format_number(value: int | float) -> str:
    """Integers exactly, floats with up to 15 significant digits."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return f"{value:.15g}"


class Calculator(Tool):
    """Evaluate an arithmetic expression built from the numbers of the task.

    Supports + - * / // % ** (power), parentheses, the constants pi, e, tau and
    math functions such as sqrt, log, sin, cos, round, factorial.

    (The description shown to models has no example expression on purpose: a
    small model copies examples into unrelated calls.)

    >>> Calculator(max_digits=50).call({"expression": "2 ** 10"})
    '1024'
    """

    name = "calculator"
    permissions = ("read_only",)
    timeout = 5.0

    def __init__(self, *, max_length: int = 500, max_digits: int = 1000, name: str | None = None, timeout: float | None = 5.0):
        self.max_length = max_length
        self.max_digits = max_digits
        super().__init__(name=name, timeout=timeout)

    def forward(self, expression: str) -> str:
        """Args:
            expression: numbers and operators + - * / ** % ( ), functions sqrt, round, factorial
        """
        return format_number(evaluate(expression, self.max_length, self.max_digits))
