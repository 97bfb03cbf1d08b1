"""Few-shot prompts: a template plus ``k`` worked examples chosen by a selector.

>>> from augment.prompts import PromptTemplate, FewShot
>>> t = PromptTemplate("Review: {text}\\nSentiment:")
>>> shots = [{"text": "Great film!", "label": "positive"}, {"text": "Dull.", "label": "negative"}]
>>> fs = FewShot(t, shots, k=2, output="{label}")
>>> [m.role for m in fs.render(text="Loved it")]
['user', 'assistant', 'user', 'assistant', 'user']
>>> print(FewShot(t, shots, k=1, output="{label}", mode="inline").render_text(text="Loved it"))
[user]
Review: Great film!
Sentiment: positive
<BLANKLINE>
Review: Loved it
Sentiment:
"""

from __future__ import annotations

from typing import Any, Sequence

from augment.errors import ConfigError, TemplateError
from augment.prompts.selectors import ExampleSelector, get_selector
from augment.prompts.template import Prompt, PromptTemplate, template_variables
from augment.types import Message

__all__ = ["FewShot"]


class FewShot(Prompt):
    """Wraps a template with in-context examples: zero-shot (``k=0``), one-shot, few-shot.

    ``examples`` are dicts holding the template's variables plus the fields of
    ``output`` (a format string for the expected answer, e.g. ``"{label}"`` or,
    for chain-of-thought, ``"{rationale} The answer is {answer}."``). Extra
    fields are ignored. ``selector`` is ``"fixed"`` (first ``k``), ``"random"``
    (seeded by ``seed``), ``"balanced"`` (as many shots of each ``label``, seeded
    order), ``"semantic"`` / ``"mmr"`` (need ``embed``: an
    augment ``Embedder`` or a ``texts -> vectors`` callable) or any
    :class:`~augment.prompts.selectors.ExampleSelector` (e.g. a
    ``TokenBudgetSelector``). ``mode="chat"`` renders each example as a user
    turn and an assistant turn; ``mode="inline"`` puts them all in the user
    message, answer after ``joiner``.

    Errors: an example lacking a field -> TemplateError naming the example and
    the field; ``k`` above the pool size (or ``k > 0`` with no examples) -> ConfigError.

    >>> fs = FewShot("Q: {q}", [{"q": "1+1", "a": 2}, {"q": "2+2", "a": 4}], k=1, selector="random", output="{a}")
    >>> len(fs.render(q="3+3"))  # one example turn pair + the question
    3
    """

    def __init__(
        self,
        template: PromptTemplate | str,
        examples: Sequence[dict[str, Any]],
        k: int | None = None,
        selector: str | ExampleSelector | None = "fixed",
        *,
        output: str = "{answer}",
        mode: str = "chat",
        joiner: str = " ",
        seed: int = 0,
        embed: Any = None,
    ):
        self.template = template if isinstance(template, Prompt) else PromptTemplate(template)
        if isinstance(self.template, FewShot):
            raise TemplateError("wrap a PromptTemplate, not another FewShot")
        if mode not in ("chat", "inline"):
            raise ConfigError(f"mode={mode!r}; use 'chat' (examples as turns) or 'inline' (in one message)")
        if isinstance(examples, dict) or not isinstance(examples, Sequence):
            raise ConfigError("examples must be a list of dicts")
        self.examples = list(examples)
        self.k = len(self.examples) if k is None else k
        if not isinstance(self.k, int) or self.k < 0:
            raise ConfigError(f"k={k!r} must be an integer >= 0 (0 = zero-shot)")
        if self.k > 0 and not self.examples:
            raise ConfigError(f"k={self.k} but the example pool is empty; pass examples or use k=0 for zero-shot")
        if self.k > len(self.examples):
            raise ConfigError(f"k={self.k} is larger than the example pool ({len(self.examples)} examples); lower k or add examples")
        self.output = output
        self.output_variables = template_variables(output)
        needed = list(self.template.input_variables) + [v for v in self.output_variables if v not in self.template.input_variables]
        for i, ex in enumerate(self.examples):
            if not isinstance(ex, dict):
                raise TemplateError(f"example {i} is a {type(ex).__name__}; examples must be dicts")
            missing = [f for f in needed if f not in ex]
            if missing:
                raise TemplateError(
                    f"example {i} is missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                    f"(the template and output={output!r} use {needed}); add it to every example"
                )
        self.mode = mode
        self.joiner = joiner
        self.selector = get_selector(selector, seed=seed, embed=embed)
        self.last_examples: list[dict[str, Any]] = []

    @property
    def input_variables(self) -> list[str]:
        return self.template.input_variables

    def _own(self, ex: dict[str, Any]) -> dict[str, Any]:
        return {v: ex[v] for v in self.template.input_variables}

    def answer_text(self, example: dict[str, Any]) -> str:
        """The expected answer of one example, rendered from ``output``."""
        return self.output.format(**{v: example[v] for v in self.output_variables})

    def build(self, examples: list[dict[str, Any]], variables: dict[str, Any]) -> list[Message]:
        """The messages for ``variables`` with exactly these ``examples`` (no selection)."""
        query = self.template.render(**variables)
        system = [m for m in query[: next(i for i, m in enumerate(query) if m.role != "system")]]
        body = query[len(system):]
        if not examples:
            return query
        if self.mode == "chat":
            shots: list[Message] = []
            for ex in examples:
                shots += [m for m in self.template.render(**self._own(ex)) if m.role != "system"]
                shots.append(Message.assistant(self.answer_text(ex)))
            return system + shots + body
        last_user = max(i for i, m in enumerate(body) if m.role == "user")
        blocks = []
        for ex in examples:
            user = [m for m in self.template.render(**self._own(ex)) if m.role == "user"][-1].content
            blocks.append(user + self.joiner + self.answer_text(ex))
        body = list(body)
        body[last_user] = Message.user("\n\n".join(blocks + [body[last_user].content]))
        return system + body

    def select(self, **variables: Any) -> list[dict[str, Any]]:
        """The examples the selector picks for these variables."""
        self.check_variables(variables)
        if self.k == 0:
            return []
        return list(self.selector.select(self.examples, variables, self.k, lambda exs: self.build(exs, variables)))

    def render(self, **variables: Any) -> list[Message]:
        """Select examples for ``variables`` and render the whole conversation."""
        self.last_examples = self.select(**variables)
        return self.build(self.last_examples, variables)

    def __str__(self) -> str:
        return (
            f"FewShot(k={self.k}, selector={type(self.selector).__name__}, mode={self.mode}, output={self.output!r}, "
            f"{len(self.examples)} examples)\n{self.template}"
        )

    def __repr__(self) -> str:
        return f"FewShot(k={self.k}, selector={type(self.selector).__name__}, mode={self.mode!r})"
