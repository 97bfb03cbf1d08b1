"""Prompting: strict templates, few-shot examples with selectors, chain-of-thought, self-consistency,
classification by label likelihood (with calibration) and program-aided reasoning.

Features are added by wrapping: ``FewShot`` wraps a ``PromptTemplate``,
``ChainOfThought`` wraps a template or a ``FewShot`` (and the model),
``SelfConsistency`` wraps a ``ChainOfThought``.

>>> from augment.prompts import PromptTemplate
>>> print(PromptTemplate([("system", "Be brief."), ("user", "Hi {name}")]))
[system]
Be brief.
<BLANKLINE>
[user]
Hi {name}
"""

from augment.prompts.classify import CONTENT_FREE_INPUTS, Classification, Classifier
from augment.prompts.fewshot import FewShot
from augment.prompts.library import TEMPLATE_NAMES, load_template, template_text
from augment.prompts.parsers import (
    AnswerParser,
    ChoiceParser,
    JSONParser,
    LabelParser,
    NumberParser,
    ParseResult,
    RegexParser,
    YesNoParser,
)
from augment.prompts.reasoning import (
    ANSWER_PROMPT,
    DEFAULT_TRIGGER,
    ChainOfThought,
    CoTResult,
    SelfConsistency,
    SelfConsistencyResult,
    vote,
)
from augment.prompts.program import CODE_INSTRUCTION, EXPRESSION_INSTRUCTION, EXPRESSION_PATTERN, ProgramOfThought, ProgramResult
from augment.prompts.selectors import (
    BalancedSelector,
    ExampleSelector,
    FixedSelector,
    MMRSelector,
    RandomSelector,
    SemanticSelector,
    TokenBudgetSelector,
)
from augment.prompts.template import Prompt, PromptTemplate, format_messages

__all__ = [
    "Prompt",
    "PromptTemplate",
    "format_messages",
    "FewShot",
    "ExampleSelector",
    "FixedSelector",
    "RandomSelector",
    "SemanticSelector",
    "MMRSelector",
    "TokenBudgetSelector",
    "BalancedSelector",
    "Classifier",
    "Classification",
    "CONTENT_FREE_INPUTS",
    "ProgramOfThought",
    "ProgramResult",
    "EXPRESSION_INSTRUCTION",
    "CODE_INSTRUCTION",
    "EXPRESSION_PATTERN",
    "vote",
    "AnswerParser",
    "ParseResult",
    "NumberParser",
    "ChoiceParser",
    "YesNoParser",
    "LabelParser",
    "RegexParser",
    "JSONParser",
    "ChainOfThought",
    "CoTResult",
    "SelfConsistency",
    "SelfConsistencyResult",
    "DEFAULT_TRIGGER",
    "ANSWER_PROMPT",
    "TEMPLATE_NAMES",
    "load_template",
    "template_text",
]
