"""Strict prompt templates: messages rendered from variables, visible as text.

A template is a list of ``(role, text)`` pairs whose texts use ``{name}``
placeholders (``{{`` and ``}}`` for literal braces, as in ``str.format``).
Rendering is strict: a missing or an unexpected variable raises
:class:`~augment.errors.TemplateError` naming it.

>>> t = PromptTemplate([("system", "Be brief."), ("user", "Translate {word} into {lang}.")])
>>> t.input_variables
['lang', 'word']
>>> t.render(word="Apple", lang="Japanese")[1].content
'Translate Apple into Japanese.'
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Iterable, Sequence

from augment.errors import TemplateError
from augment.types import ROLES, Message

__all__ = ["PromptTemplate", "Prompt", "format_messages", "template_variables"]

_FORMATTER = string.Formatter()
_HEADER = re.compile(r"^\[(system|user|assistant)\]\s*$")
# LangChain's message type names -> our roles
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "system": "system", "user": "user", "assistant": "assistant"}


def template_variables(text: str) -> list[str]:
    """The ``{names}`` used in ``text`` in order of first use; raise TemplateError on bad syntax."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as e:
        raise TemplateError(f"bad template syntax in {text!r}: {e}; write literal braces as '{{{{' and '}}}}'") from None
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise TemplateError(
                f"placeholder {{{field}}} in {text!r} is not a plain variable name; use {{name}} "
                "(letters, digits, underscore), and '{{{{' '}}}}' for literal braces"
            )
        if spec or conv:
            raise TemplateError(f"placeholder {{{field}}} in {text!r} uses a format spec; format the value before passing it")
        if field not in names:
            names.append(field)
    return names


def format_messages(messages: Sequence[Message]) -> str:
    """Show messages as text: a ``[role]`` header line, then the content (the file format of templates)."""
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)


class Prompt:
    """Anything that renders messages from variables (``PromptTemplate``, ``FewShot``).

    Subclasses implement :meth:`render` and :attr:`input_variables`.
    """

    @property
    def input_variables(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def render(self, **variables: Any) -> list[Message]:  # pragma: no cover - interface
        raise NotImplementedError

    def render_text(self, **variables: Any) -> str:
        """The rendered messages as text (``[role]`` headers). ``llm.render_prompt(...)`` shows the model's exact input."""
        return format_messages(self.render(**variables))

    def check_variables(self, variables: dict[str, Any], where: str = "") -> None:
        """Raise TemplateError when ``variables`` lacks or adds a name compared to :attr:`input_variables`."""
        need = set(self.input_variables)
        missing = [v for v in self.input_variables if v not in variables]
        extra = sorted(set(variables) - need)
        at = f" {where}" if where else ""
        if missing:
            raise TemplateError(
                f"missing variable{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}{at}; "
                f"the template needs {sorted(need)}"
            )
        if extra:
            raise TemplateError(
                f"unexpected variable{'s' if len(extra) > 1 else ''} {', '.join(repr(e) for e in extra)}{at}; "
                f"the template only uses {sorted(need)}"
            )


class PromptTemplate(Prompt):
    """A chat prompt with ``{variables}``, rendered strictly.

    ``str(template)`` shows it as text (``[role]`` header lines), the same
    format :meth:`from_text` and the packaged task templates use.

    >>> t = PromptTemplate.from_text("[user]\\nIs {n} even? Answer yes or no.")
    >>> t.render(n=4)[0].content
    'Is 4 even? Answer yes or no.'
    >>> t.render()
    Traceback (most recent call last):
    ...
    augment.errors.TemplateError: missing variable 'n'; the template needs ['n']
    """

    def __init__(self, messages: str | Iterable[tuple[str, str] | Message], *, name: str | None = None):
        if isinstance(messages, str):
            messages = [("user", messages)]
        parts: list[tuple[str, str]] = []
        for i, m in enumerate(messages):
            if isinstance(m, Message):
                m = (m.role, m.content)
            if not (isinstance(m, (tuple, list)) and len(m) == 2 and all(isinstance(x, str) for x in m)):
                raise TemplateError(f"template message {i} is {m!r}; give (role, text) pairs, e.g. ('user', 'Hi {{name}}')")
            role = _ROLE_ALIASES.get(m[0], m[0])
            if role not in ROLES or role == "tool":
                raise TemplateError(f"template message {i} has role {m[0]!r}; use system, user or assistant")
            parts.append((role, m[1]))
        if not parts:
            raise TemplateError("a template needs at least one message, e.g. PromptTemplate('Summarize: {text}')")
        if all(r == "system" for r, _ in parts):
            raise TemplateError("a template needs a user message, not only system messages")
        self.messages = parts
        self.name = name
        vars_: list[str] = []
        for _, text in parts:
            vars_ += [v for v in template_variables(text) if v not in vars_]
        self._variables = vars_

    # -- construction -----------------------------------------------------
    @classmethod
    def from_text(cls, text: str, *, name: str | None = None) -> "PromptTemplate":
        """Parse the text format: ``[system]`` / ``[user]`` / ``[assistant]`` header lines, each followed by its text.

        Text without any header is one user message.
        """
        lines = text.strip("\n").splitlines()
        if not lines or not _HEADER.match(lines[0]):
            return cls([("user", text.strip())], name=name)
        parts: list[tuple[str, list[str]]] = []
        for line in lines:
            h = _HEADER.match(line)
            if h:
                parts.append((h.group(1), []))
            else:
                parts[-1][1].append(line)
        return cls([(r, "\n".join(body).strip("\n")) for r, body in parts], name=name)

    @classmethod
    def from_file(cls, path: str | Path) -> "PromptTemplate":
        """Load a template from a text file in the :meth:`from_text` format."""
        p = Path(path)
        if not p.is_file():
            raise TemplateError(f"template file {str(p)!r} does not exist")
        return cls.from_text(p.read_text(encoding="utf-8"), name=p.stem)

    # -- rendering ---------------------------------------------------------
    @property
    def input_variables(self) -> list[str]:
        """The variable names, sorted."""
        return sorted(self._variables)

    def render(self, **variables: Any) -> list[Message]:
        """Messages with every ``{name}`` replaced; TemplateError on a missing or unexpected variable."""
        self.check_variables(variables)
        return [Message(role, text.format(**variables)) for role, text in self.messages]  # type: ignore[arg-type]

    def partial(self, **variables: Any) -> "PromptTemplate":
        """A new template with some variables filled in now."""
        unknown = sorted(set(variables) - set(self._variables))
        if unknown:
            raise TemplateError(f"unexpected variable {', '.join(map(repr, unknown))}; the template only uses {self.input_variables}")

        def fill(text: str) -> str:
            out = []
            for literal, field, _, _ in _FORMATTER.parse(text):
                out.append(literal.replace("{", "{{").replace("}", "}}"))
                if field is not None:
                    out.append(str(variables[field]).replace("{", "{{").replace("}", "}}") if field in variables else "{" + field + "}")
            return "".join(out)

        return PromptTemplate([(r, fill(t)) for r, t in self.messages], name=self.name)

    def __str__(self) -> str:
        return "\n\n".join(f"[{r}]\n{t}" for r, t in self.messages)

    def __repr__(self) -> str:
        return f"PromptTemplate(name={self.name!r}, variables={self.input_variables})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PromptTemplate) and other.messages == self.messages
