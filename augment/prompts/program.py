"""Program-aided reasoning: the model writes an expression or a program, a tool computes the answer.

A 135M model cannot multiply 17 by 23 in its head, but it can write
``17 * 23``. :class:`ProgramOfThought` asks for exactly that (under a JSON-schema
constraint by default, so the output is always one well-formed string), runs it
with a tool you pass in (the built-in ``calculator`` for expressions, the
sandboxed ``python`` tool for programs) and parses the tool's output. With
``n > 1`` (or :class:`~augment.prompts.SelfConsistency` around it) several
programs are sampled in one batched call and the executed results vote.

>>> from augment.llm.fake import FakeLLM
>>> from augment.prompts import ProgramOfThought
>>> from augment.tools.calculator import Calculator
>>> pot = ProgramOfThought("Q: {question}", FakeLLM([{"expression": "3 * 12 + 4"}]), Calculator())
>>> r = pot(question="3 boxes of 12 eggs and 4 loose eggs: how many eggs?")
>>> (r.program, r.output, r.answer)
('3 * 12 + 4', '40', 40)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from augment.errors import AugmentError, ConfigError
from augment.prompts.parsers import AnswerParser, NumberParser, ParseResult
from augment.prompts.reasoning import CoTResult, vote
from augment.prompts.template import Prompt, PromptTemplate, format_messages
from augment.types import Completion, Message

__all__ = ["ProgramOfThought", "ProgramResult", "EXPRESSION_INSTRUCTION", "CODE_INSTRUCTION", "EXPRESSION_PATTERN",
           "input_numbers", "numbers_pattern"]

#: added to the last user message when the tool takes an expression
EXPRESSION_INSTRUCTION = "Write one arithmetic expression that computes the answer, using only numbers from the question."
#: added to the last user message when the tool takes code
CODE_INSTRUCTION = "Write a short Python program that computes the answer and prints it."
#: the characters an arithmetic expression may use (the constraint for calculator-style tools)
EXPRESSION_PATTERN = r"^[(0-9][0-9+\-*/(). ]*$"
_NUMBER = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.])\d+(?:\.\d+)?")


def input_numbers(variables: Mapping[str, Any]) -> list[str]:
    """The numbers written in the input values, in order of first appearance ("1,250" -> "1250").

    >>> input_numbers({"question": "Tom has 1,250 coins, 3.5 kg of them, and 12 more; 12 in all?"})
    ['1250', '3.5', '12']
    """
    found: list[str] = []
    for value in variables.values():
        for m in _NUMBER.findall(str(value)):
            n = m.replace(",", "")
            if n not in found:
                found.append(n)
    return found


def numbers_pattern(numbers: Sequence[str]) -> str:
    """A regex for arithmetic expressions over exactly these numbers (operators, parentheses, single spaces).

    >>> import re
    >>> p = re.compile(numbers_pattern(["12", "3"]))
    >>> bool(p.match("(12 + 3) * 3")), bool(p.match("12 * 4")), bool(p.match("123"))
    (True, False, False)
    """
    alts = "|".join(re.escape(n) for n in sorted(set(numbers), key=lambda n: (-len(n), n)))
    term = rf"\(*({alts})\)*"  # plain groups: the grammar compiler's regex subset
    return rf"^{term}( ?[-+*/] ?{term})*$"


@dataclass
class ProgramResult(CoTResult):
    """One program and its outcome: ``program`` (what the model wrote), ``output`` (the tool's text,
    None when it failed), ``error`` (the tool's error message) and, from :class:`CoTResult`,
    ``answer`` (the parsed output), ``parse`` and the model's ``completions``."""

    program: str = ""
    output: str | None = None
    error: str | None = None


def _tool_argument(tool: Any) -> str | None:
    spec = tool.spec() if callable(getattr(tool, "spec", None)) else None
    if not isinstance(spec, dict):
        return None
    params = spec.get("function", spec).get("parameters") or {}
    names = list(params.get("required") or params.get("properties") or [])
    if len(names) != 1:
        raise ConfigError(f"the tool {getattr(tool, 'name', tool)!r} takes {names or 'no'} arguments; "
                          "ProgramOfThought needs a tool with one text argument (calculator, python)")
    return names[0]


class ProgramOfThought:
    """Have the model write an expression or a short program; run it with a tool; parse the result.

    ``tool``: an augment tool with one text argument (``Calculator()`` reads
    ``expression``, ``PythonTool()`` reads ``code``) or any ``str -> result``
    callable. ``argument`` overrides the argument name (also the JSON key the
    model writes). ``constrained=True`` (default) asks for
    ``{"<argument>": "..."}`` through ``response_format``; for an
    ``expression`` the string is limited to :data:`EXPRESSION_PATTERN`
    (digits, ``+ - * / ( ) .``), which keeps even a 135M model well-formed.
    With ``constrained=False`` the reply text is the program (a code fence is
    removed). ``instruction`` is appended to the last user message (default:
    :data:`EXPRESSION_INSTRUCTION` or :data:`CODE_INSTRUCTION`; ``""`` for none, e.g. with a
    ``FewShot`` whose examples show the programs). ``parser`` reads the tool's output
    (default :class:`NumberParser`). ``numbers_from_inputs=True`` (expressions under the
    constraint only) narrows the pattern further: the expression may use only the numbers
    written in the input values (:func:`input_numbers`) plus ``constants`` (e.g. ``(2, 7, 12)``
    for "twice", "a week", "a dozen"), so the model picks numbers and operators but cannot
    invent a figure; each input then gets its own grammar. When the model is ``load_llm()``'s
    default with augment's adapter loaded, programs are written with that adapter (it was tuned to
    turn word problems into calculator expressions); pass ``adapter=None`` for the base model.

    Example::

        pot = ProgramOfThought(PromptTemplate("Question: {question}"), load_llm(), Calculator())
        r = pot(question="Ana has 4 boxes of 12 pencils. How many pencils?")
        r.program, r.answer                     # ('4 * 12', 48)
        pot.vote(question="...", n=5, temperature=0.7).answer   # majority over 5 executed programs
        pot.run_many([{"question": q} for q in questions])     # greedy, one batched call
    """

    def __init__(
        self,
        prompt: Prompt | str,
        llm: Any,
        tool: Any,
        *,
        parser: AnswerParser | None = None,
        argument: str | None = None,
        constrained: bool = True,
        instruction: str | None = None,
        max_tokens: int = 64,
        numbers_from_inputs: bool = False,
        constants: Sequence[int | float | str] = (),
        **options: Any,
    ):
        self.prompt = prompt if isinstance(prompt, Prompt) else PromptTemplate(prompt)
        if not hasattr(llm, "complete") or not hasattr(llm, "batch"):
            raise ConfigError(f"llm must be an augment LLM (load_llm(), FakeLLM...), got {type(llm).__name__}")
        if not (callable(getattr(tool, "call", None)) or callable(tool)):
            raise ConfigError(f"tool must be an augment tool (Calculator(), PythonTool()) or a callable, got {tool!r}")
        self.llm = llm
        self.tool = tool
        self.argument = argument or _tool_argument(tool) or "expression"
        self.parser = parser if parser is not None else NumberParser()
        if not isinstance(self.parser, AnswerParser):
            raise ConfigError("parser must be an AnswerParser (NumberParser(), ...)")
        self.constrained = constrained
        is_code = self.argument == "code"
        self.instruction = instruction if instruction is not None else (CODE_INSTRUCTION if is_code else EXPRESSION_INSTRUCTION)
        self.max_tokens = max_tokens
        if numbers_from_inputs and not (constrained and self.argument == "expression"):
            raise ConfigError("numbers_from_inputs=True narrows the expression grammar: it needs constrained=True "
                              f"and a calculator-style tool (argument 'expression', got {self.argument!r})")
        self.numbers_from_inputs = numbers_from_inputs
        self.constants = [str(c) for c in constants]
        if any(not re.fullmatch(r"\d+(?:\.\d+)?", c) for c in self.constants):
            raise ConfigError(f"constants must be non-negative numbers such as 2, 7 or 0.5, got {list(constants)!r}")
        from augment.llm.defaults import use_default_adapter

        use_default_adapter(llm, options)  # augment's tool-use adapter, as Agent and RAG use it
        self.options = options

    @property
    def input_variables(self) -> list[str]:
        return self.prompt.input_variables

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The JSON schema of the reply when ``constrained`` (None otherwise); see :meth:`format_for`."""
        return self.format_for({})

    def format_for(self, variables: Mapping[str, Any]) -> dict[str, Any] | None:
        """The JSON schema of the reply for these inputs (with ``numbers_from_inputs``, its numbers only)."""
        if not self.constrained:
            return None
        text: dict[str, Any] = {"type": "string", "minLength": 1}
        if self.argument == "expression":
            numbers = input_numbers(variables) + self.constants if self.numbers_from_inputs else []
            text["pattern"] = numbers_pattern(numbers) if numbers else EXPRESSION_PATTERN
        return {"type": "object", "properties": {self.argument: text}, "required": [self.argument],
                "additionalProperties": False}

    def messages(self, **variables: Any) -> list[Message]:
        """The conversation sent to the model: the prompt, the instruction after the last user message."""
        msgs = list(self.prompt.render(**variables))
        if self.instruction:
            i = max(j for j, m in enumerate(msgs) if m.role == "user")
            msgs[i] = Message.user(msgs[i].content.rstrip() + "\n" + self.instruction)
        return msgs

    def render_text(self, **variables: Any) -> str:
        return format_messages(self.messages(**variables))

    # -- running ------------------------------------------------------------
    def _program(self, completion: Completion) -> str:
        if isinstance(completion.parsed, dict) and isinstance(completion.parsed.get(self.argument), str):
            return completion.parsed[self.argument].strip()
        text = completion.text.strip()
        if text.startswith("```"):
            text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.rsplit("```", 1)[0]
        return text.strip()

    def execute(self, program: str) -> ProgramResult:
        """Run one program with the tool and parse its output (tool errors are recorded, not raised)."""
        if not program:
            return ProgramResult(program, None, ParseResult(False, None, "", "empty program"), [], program, None, "empty program")
        try:
            if callable(getattr(self.tool, "call", None)):
                output = str(self.tool.call({self.argument: program}))
            else:
                output = str(self.tool(program))
        except (AugmentError, ValueError, ArithmeticError, TypeError) as e:
            msg = str(e)
            return ProgramResult(program, None, ParseResult(False, None, "", msg), [], program, None, msg)
        res = self.parser.parse(output)
        return ProgramResult(program, res.value, res, [], program, output, None)

    def _run(self, conversations: list[list[Message]], inputs: list[Mapping[str, Any]], **sampling: Any) -> list[ProgramResult]:
        """Generate and execute; rows that share a reply format go in one batched call."""
        opts = {**self.options, "max_tokens": self.max_tokens, **sampling}
        formats = [self.format_for(v) for v in inputs]
        groups: dict[str, list[int]] = {}
        for i, f in enumerate(formats):
            groups.setdefault(repr(f), []).append(i)
        outs: list[Any] = [None] * len(conversations)
        for rows in groups.values():
            o = dict(opts) if formats[rows[0]] is None else {**opts, "response_format": formats[rows[0]]}
            convs = [conversations[i] for i in rows]
            got = [self.llm.complete(convs[0], **o)] if len(convs) == 1 else self.llm.batch(convs, **o)
            for i, c in zip(rows, got):
                outs[i] = c
        results = []
        for c in outs:
            r = self.execute(self._program(c))
            r.completions = [c]
            results.append(r)
        return results

    def paths(self, variables: dict[str, Any], n: int = 1, **sampling: Any) -> list[ProgramResult]:
        """``n`` programs for one input, sampled in ONE batched call, each executed (what SelfConsistency calls)."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"n={n!r}: ask for at least one program")
        return self._run([self.messages(**variables)] * n, [variables] * n, **sampling)

    def run(self, **variables: Any) -> ProgramResult:
        """One program (greedy unless the options say otherwise)."""
        return self.paths(variables, 1)[0]

    __call__ = run

    def run_many(self, items: Sequence[Mapping[str, Any]], **sampling: Any) -> list[ProgramResult]:
        """One program per input, all generated in ONE batched call."""
        if not items:
            return []
        return self._run([self.messages(**dict(v)) for v in items], [dict(v) for v in items], **sampling)

    def vote(self, n: int = 5, *, temperature: float = 0.7, seed: int | None = 0, **variables: Any) -> Any:
        """Self-consistency over programs: ``n`` sampled programs, majority over their executed results
        (a :class:`~augment.prompts.SelfConsistencyResult`)."""
        if temperature <= 0:
            raise ConfigError("temperature must be > 0: greedy decoding would give n identical programs")
        return vote(self.paths(variables, n, temperature=temperature, seed=seed))

    def __repr__(self) -> str:
        name = getattr(self.tool, "name", type(self.tool).__name__)
        return f"ProgramOfThought(tool={name!r}, argument={self.argument!r}, constrained={self.constrained})"
