"""Chain-of-thought and self-consistency: wrappers around a prompt and a model.

``ChainOfThought`` wraps a prompt (a ``PromptTemplate`` or a ``FewShot``);
``SelfConsistency`` wraps a ``ChainOfThought``. Both return the rationale and
the parsed answer separately; a parser that finds nothing gives a parse
failure with the raw text, not an exception.

>>> from augment.llm.fake import FakeLLM
>>> from augment.prompts import PromptTemplate, ChainOfThought, NumberParser
>>> llm = FakeLLM(["Tom has 3, buys 4: 3 + 4 = 7.", "7"])
>>> cot = ChainOfThought(PromptTemplate("Q: {question}"), llm, NumberParser())
>>> r = cot(question="Tom has 3 apples and buys 4. How many?")
>>> (r.rationale, r.answer)
('Tom has 3, buys 4: 3 + 4 = 7.', 7)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from augment.errors import ConfigError
from augment.prompts.parsers import AnswerParser, ParseResult
from augment.prompts.template import Prompt, PromptTemplate, format_messages
from augment.types import Completion, Message

__all__ = ["ChainOfThought", "CoTResult", "SelfConsistency", "SelfConsistencyResult", "vote", "DEFAULT_TRIGGER", "ANSWER_PROMPT"]

#: zero-shot chain-of-thought trigger (Kojima et al., 2022), appended to the last user message
DEFAULT_TRIGGER = "Let's think step by step."
#: the user turn of the answer-extraction step; {instruction} comes from the parser
ANSWER_PROMPT = "Give only the final answer, with no explanation.\n{instruction}"


@dataclass
class CoTResult:
    """One reasoning path: ``rationale`` (the reasoning text), ``answer`` (parsed value, None on failure),
    ``parse`` (the :class:`ParseResult`, with the raw answer text) and the model's completions."""

    rationale: str
    answer: Any
    parse: ParseResult
    completions: list[Completion] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.parse.ok

    @property
    def raw(self) -> str:
        return self.parse.raw


class ChainOfThought:
    """Reason first, then answer: wraps a prompt and a model.

    Zero-shot CoT (default): the ``trigger`` is appended to the last user
    message, the model writes a rationale, then a second call (the rationale as
    the assistant turn plus :data:`ANSWER_PROMPT`) extracts the answer, which
    ``parser`` reads; a parser with a ``response_format`` (``JSONParser``) makes
    that step use constrained decoding. Few-shot CoT: wrap a ``FewShot`` whose
    ``output`` shows worked rationales (``"{rationale} The answer is {answer}."``)
    and pass ``trigger=None, extract=False``: one call, the answer is parsed
    from the rationale.

    Example::

        cot = ChainOfThought(PromptTemplate("Q: {question}"), llm, NumberParser(), max_tokens=128)
        result = cot(question="3 boxes of 4 eggs: how many eggs?")
        result.rationale, result.answer
    """

    def __init__(
        self,
        prompt: Prompt | str,
        llm: Any,
        parser: AnswerParser | None = None,
        *,
        trigger: str | None = DEFAULT_TRIGGER,
        extract: bool = True,
        answer_prompt: str = ANSWER_PROMPT,
        max_tokens: int = 256,
        answer_max_tokens: int = 24,
        **options: Any,
    ):
        from augment.prompts.parsers import NumberParser

        self.prompt = prompt if isinstance(prompt, Prompt) else PromptTemplate(prompt)
        if not hasattr(llm, "complete") or not hasattr(llm, "batch"):
            raise ConfigError(f"llm must be an augment LLM (load_llm(), FakeLLM...), got {type(llm).__name__}")
        self.llm = llm
        self.parser = parser if parser is not None else NumberParser()
        if not isinstance(self.parser, AnswerParser):
            raise ConfigError("parser must be an AnswerParser (NumberParser(), ChoiceParser(), JSONParser(schema)...)")
        if "{instruction}" not in answer_prompt:
            raise ConfigError("answer_prompt must contain '{instruction}' (where the parser's instruction goes)")
        self.trigger = trigger
        self.extract = extract
        self.answer_prompt = answer_prompt
        self.max_tokens = max_tokens
        self.answer_max_tokens = answer_max_tokens
        self.options = options

    @property
    def input_variables(self) -> list[str]:
        return self.prompt.input_variables

    # -- the prompts, visible ---------------------------------------------
    def reasoning_messages(self, **variables: Any) -> list[Message]:
        """The first call's messages: the prompt with the trigger after the last user message."""
        msgs = list(self.prompt.render(**variables))
        if self.trigger:
            i = max(j for j, m in enumerate(msgs) if m.role == "user")
            msgs[i] = Message.user(msgs[i].content.rstrip() + "\n" + self.trigger)
        return msgs

    def answer_messages(self, reasoning: list[Message], rationale: str) -> list[Message]:
        """The extraction call's messages: the reasoning turn, then the answer request."""
        ask = self.answer_prompt.format(instruction=self.parser.instruction)
        return reasoning + [Message.assistant(rationale), Message.user(ask)]

    def render_text(self, **variables: Any) -> str:
        """The first call's messages as text."""
        return format_messages(self.reasoning_messages(**variables))

    # -- running -----------------------------------------------------------
    def paths(self, variables: dict[str, Any], n: int = 1, **sampling: Any) -> list[CoTResult]:
        """``n`` reasoning paths; ``n > 1`` uses ONE batched call (``llm.batch``) for the rationales
        (and one more for the answers when ``extract``)."""
        reasoning = self.reasoning_messages(**variables)
        opts = {**self.options, "max_tokens": self.max_tokens, **sampling}
        if n == 1:
            firsts = [self.llm.complete(reasoning, **opts)]
        else:
            firsts = self.llm.batch([reasoning] * n, **opts)
        if not self.extract:
            return [self._result(c.text, c.text, c.parsed, [c]) for c in firsts]
        aopts = {k: v for k, v in self.options.items() if k not in ("temperature", "seed", "top_p")}
        aopts.update(max_tokens=self.answer_max_tokens, temperature=0.0)
        if self.parser.response_format is not None:
            aopts["response_format"] = self.parser.response_format
        asks = [self.answer_messages(reasoning, c.text) for c in firsts]
        seconds = [self.llm.complete(asks[0], **aopts)] if n == 1 else self.llm.batch(asks, **aopts)
        return [self._result(c1.text, c2.text, c2.parsed, [c1, c2]) for c1, c2 in zip(firsts, seconds)]

    def _result(self, rationale: str, answer_text: str, parsed: Any, completions: list[Completion]) -> CoTResult:
        res = self.parser.parse(answer_text, parsed)
        if not res.ok and self.extract:
            # the extraction answer had nothing readable: fall back to the rationale's own conclusion
            again = self.parser.parse(rationale)
            if again.ok:
                res = ParseResult(True, again.value, answer_text)
        return CoTResult(rationale.strip(), res.value, res, completions)

    def run(self, **variables: Any) -> CoTResult:
        """One reasoning path (greedy unless the options say otherwise)."""
        return self.paths(variables, 1)[0]

    __call__ = run

    def __repr__(self) -> str:
        mode = "zero-shot" if self.extract else "single-call"
        return f"ChainOfThought({mode}, parser={type(self.parser).__name__}, trigger={self.trigger!r})"


def _vote_key(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


@dataclass
class SelfConsistencyResult:
    """The majority ``answer`` (None when no path parsed), its ``vote_share`` among all ``n`` paths,
    the ``votes`` per answer and every path."""

    answer: Any
    vote_share: float
    votes: dict[Any, int]
    paths: list[CoTResult]

    @property
    def n(self) -> int:
        return len(self.paths)

    @property
    def ok(self) -> bool:
        return self.answer is not None


def vote(paths: list[CoTResult]) -> SelfConsistencyResult:
    """The majority answer of ``paths``: failed parses do not vote but count in the share; ties go to the first seen."""
    counts: Counter = Counter()
    first: dict[Any, Any] = {}
    for p in paths:
        if p.ok:
            key = _vote_key(p.answer)
            counts[key] += 1
            first.setdefault(key, p.answer)
    if not counts:
        return SelfConsistencyResult(None, 0.0, {}, paths)
    best = max(counts, key=lambda k: (counts[k], -list(first).index(k)))
    return SelfConsistencyResult(first[best], counts[best] / len(paths), dict(counts), paths)


class SelfConsistency:
    """Sample ``n`` reasoning paths in one batched call and take the majority answer.

    Wraps a :class:`ChainOfThought` (or a :class:`~augment.prompts.ProgramOfThought`:
    the programs' executed results vote). Paths are sampled at ``temperature`` with
    ``seed`` (reproducible on local models); failed parses do not vote but
    count in the share's denominator; ties go to the answer seen first.

    Example::

        sc = SelfConsistency(ChainOfThought(PromptTemplate("Q: {question}"), llm), n=5)
        r = sc(question="2 + 3 * 2 = ?")
        r.answer, r.vote_share, [p.answer for p in r.paths]
    """

    def __init__(self, cot: ChainOfThought, n: int = 5, *, temperature: float = 0.7, top_p: float = 1.0, seed: int | None = 0):
        if not isinstance(cot, ChainOfThought) and not callable(getattr(cot, "paths", None)):
            raise ConfigError("SelfConsistency wraps a ChainOfThought or a ProgramOfThought: "
                              "SelfConsistency(ChainOfThought(prompt, llm), n=5)")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"n={n!r}: self-consistency needs at least 1 sampled path (typically 5-20)")
        if temperature <= 0:
            raise ConfigError("temperature must be > 0: greedy decoding would give n identical paths")
        self.cot = cot
        self.n = n
        self.sampling = {"temperature": temperature, "top_p": top_p, "seed": seed}

    @property
    def input_variables(self) -> list[str]:
        return self.cot.input_variables

    def run(self, **variables: Any) -> SelfConsistencyResult:
        return vote(self.cot.paths(variables, self.n, **self.sampling))

    __call__ = run

    def __repr__(self) -> str:
        return f"SelfConsistency(n={self.n}, {self.cot!r})"
