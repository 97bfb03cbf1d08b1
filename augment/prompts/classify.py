"""Classification by label likelihood, with contextual calibration.

Instead of letting the model write a label and parsing it, :class:`Classifier`
asks the model how likely each label is as its reply (``llm.score``: the
log-probability of every label's tokens after the prompt, all labels in one
forward pass) and picks the most likely one. On small models this is much more
accurate than generating the label (see the README's prompting section for the
measured numbers), and it always returns one of the labels, with probabilities.

Two defaults matter on small instruction-tuned models (measured on a
development split of the default model, kept apart from the benchmark's
test items; numbers in the README):

* ``prompt_format="auto"`` scores the labels after the prompt written as a
  plain transcript (``llm.score(..., chat_template=False)``: ``"Review:
  ...\nSentiment:"`` then ``" positive"``), not as the first word of an
  assistant turn after the chat template, where the model leans to one label
  whatever the input and ranks inputs worse. Servers, which apply their own
  chat template, are scored through it (``"chat"``).
* ``calibrate=True``, contextual calibration (Zhao et al., 2021, "Calibrate
  Before Use"): a model often prefers some label whatever the input (because
  of the wording of the prompt or of the examples shown). The same prompt is
  scored with content-free inputs (``"N/A"``, ``""``, ``"[MASK]"``), the label
  probabilities are averaged into a prior, which is divided out. It costs three
  scorings once per set of few-shot examples; ``calibrate=False`` turns it off.

>>> from augment.llm.fake import FakeLLM
>>> from augment.prompts import Classifier
>>> clf = Classifier("Review: {text}\\nSentiment:", FakeLLM([{"label": "negative"}]), ["positive", "negative"])
>>> r = clf(text="Dull and far too long.")   # FakeLLM cannot score: the label is generated under a constraint
>>> r.label, r.method
('negative', 'generated')
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from augment.errors import ConfigError, ScoringUnavailableError
from augment.llm.scoring import reply_separator, text_prompt
from augment.prompts.parsers import LabelParser
from augment.prompts.template import Prompt, PromptTemplate, format_messages
from augment.types import Message

__all__ = ["Classifier", "Classification", "CONTENT_FREE_INPUTS"]

#: the content-free inputs of contextual calibration
CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")


@dataclass
class Classification:
    """The result of one classification.

    ``label`` (None only when a fallback generation gave nothing readable),
    ``probabilities`` (label -> probability, summing to 1; calibrated when
    ``calibrated``), ``confidence`` (the chosen label's probability; None when
    the label was generated, since a generated label has no probability),
    ``logprobs`` (label -> the model's raw log-probability of the label text),
    ``method`` (``"likelihood"`` or ``"generated"``) and a ``note`` that says
    why a fallback happened.
    """

    label: str | None
    probabilities: dict[str, float]
    confidence: float | None
    logprobs: dict[str, float] = field(default_factory=dict)
    method: str = "likelihood"
    calibrated: bool = False
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.label is not None


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = math.fsum(exps)
    return [e / total for e in exps]


class Classifier:
    """Pick a label by its likelihood as the model's reply; optionally calibrated.

    ``prompt`` is a ``PromptTemplate``, a ``FewShot`` (its examples' ``output``
    should be the bare label, e.g. ``output="{label}"``) or a template string.
    ``labels`` is a list of labels, or a dict label -> the text the model would
    write for it (a verbalizer, e.g. ``{"pos": "positive", "neg": "negative"}``).
    ``normalize``: ``"sum"`` scores a label by the log-probability of its whole
    text (the default: the true probability of the text), ``"mean"`` by the
    per-token mean (favours long labels less). ``calibrate``: True (the
    default: the :data:`CONTENT_FREE_INPUTS`), False or your own list of
    content-free inputs; the prior is computed once per set of few-shot
    examples and cached. ``prompt_format``: ``"text"`` scores each label after
    the prompt as a plain transcript (:func:`augment.llm.scoring.text_prompt`,
    local models), ``"chat"`` as the assistant's reply after the chat template,
    ``"auto"`` (the default) the first one the model supports, in that order.

    Models that cannot score (remote servers without logprobs, ``FakeLLM``)
    fall back to generating the label under a JSON-schema constraint (the label
    must be one of ``labels``), with a warning and ``method="generated"``;
    ``fallback=False`` raises :class:`~augment.errors.ScoringUnavailableError` instead.

    Example::

        clf = Classifier(PromptTemplate("Review: {text}\\nSentiment:"), load_llm(), ["positive", "negative"])
        r = clf(text="I loved every minute of it.")
        r.label, r.confidence, r.probabilities

        shots = FewShot(template, pool, k=4, selector="balanced", output="{label}")
        few = Classifier(shots, llm, ["positive", "negative"])
    """

    def __init__(
        self,
        prompt: Prompt | str,
        llm: Any,
        labels: Sequence[str] | Mapping[str, str],
        *,
        normalize: str = "sum",
        calibrate: bool | Sequence[str] = True,
        prompt_format: str = "auto",
        fallback: bool = True,
        adapter: str | None = None,
    ):
        self.prompt = prompt if isinstance(prompt, Prompt) else PromptTemplate(prompt)
        if not hasattr(llm, "score") or not hasattr(llm, "complete"):
            raise ConfigError(f"llm must be an augment LLM (load_llm(), OpenAICompatibleLLM...), got {type(llm).__name__}")
        self.llm = llm
        if isinstance(labels, Mapping):
            self.verbalizers = {str(k): str(v) for k, v in labels.items()}
        elif isinstance(labels, str) or not isinstance(labels, Sequence):
            raise ConfigError("labels must be a list of labels (['positive', 'negative']) or a dict label -> text")
        else:
            self.verbalizers = {str(x): str(x) for x in labels}
        if len(self.verbalizers) < 2:
            raise ConfigError(f"a classifier needs at least two labels, got {list(self.verbalizers)}")
        texts = list(self.verbalizers.values())
        if any(not t.strip() for t in texts) or len(set(texts)) != len(texts):
            raise ConfigError(f"every label needs its own non-empty text; got {self.verbalizers}")
        if normalize not in ("sum", "mean"):
            raise ConfigError(f"normalize={normalize!r}; use 'sum' (whole-label log-probability) or 'mean' (per token)")
        self.normalize = normalize
        if calibrate is True:
            self.content_free: list[str] = list(CONTENT_FREE_INPUTS)
        elif calibrate is False or calibrate is None:
            self.content_free = []
        elif isinstance(calibrate, str) or not all(isinstance(x, str) for x in calibrate):
            raise ConfigError("calibrate must be True, False or a list of content-free input strings such as ['N/A', '']")
        else:
            self.content_free = list(calibrate)
        if prompt_format not in ("auto", "text", "chat"):
            raise ConfigError(f"prompt_format={prompt_format!r}; use 'auto', 'text' (plain transcript) or 'chat' (chat template)")
        self.prompt_format = prompt_format
        self._formats = ["text", "chat"] if prompt_format == "auto" else [prompt_format]
        self.fallback = fallback
        self.adapter = adapter
        self._priors: dict[tuple, list[float]] = {}
        self._warned = False

    @property
    def labels(self) -> list[str]:
        return list(self.verbalizers)

    @property
    def input_variables(self) -> list[str]:
        return self.prompt.input_variables

    # -- prompts --------------------------------------------------------------
    def _examples(self, variables: dict[str, Any]) -> list[dict[str, Any]] | None:
        select = getattr(self.prompt, "select", None)
        return list(select(**variables)) if callable(select) else None

    def _messages(self, examples: list[dict[str, Any]] | None, variables: dict[str, Any]) -> list[Message]:
        if examples is None:
            return self.prompt.render(**variables)
        return self.prompt.build(examples, variables)  # type: ignore[attr-defined]

    def messages(self, **variables: Any) -> list[Message]:
        """The conversation whose reply is scored (the labels are scored as the assistant's reply)."""
        return self._messages(self._examples(variables), variables)

    def render_text(self, **variables: Any) -> str:
        """What is scored: the plain transcript and the label texts after it (``"text"`` format, the
        first one tried), or the messages with the labels as the assistant's reply (``"chat"``)."""
        messages = self.messages(**variables)
        labels = list(self.verbalizers.values())
        if self._formats[0] == "text":
            prompt = text_prompt(messages)
            return prompt + reply_separator(prompt) + "{" + " | ".join(labels) + "}"
        return format_messages(messages) + "\n\n[assistant]\n" + " | ".join(labels)

    # -- scoring --------------------------------------------------------------
    def _label_scores(self, messages: list[Message]) -> list[float]:
        extra: dict[str, Any] = {"adapter": self.adapter} if self.adapter is not None else {}
        while True:
            fmt = self._formats[0]
            try:
                scores = self.llm.score(messages, list(self.verbalizers.values()), chat_template=fmt == "chat", **extra)
                break
            except ScoringUnavailableError:
                if len(self._formats) == 1:
                    raise
                self._formats.pop(0)  # this model cannot score that format: remember, try the next one
                self._priors.clear()
        return [s.mean_logprob if self.normalize == "mean" else s.logprob for s in scores]

    @property
    def scored_format(self) -> str:
        """The prompt format labels are scored in (``"text"`` or ``"chat"``; for ``"auto"``, the first one the
        model supported so far)."""
        return self._formats[0]

    def prior(self, examples: list[dict[str, Any]] | None = None) -> list[float]:
        """The label prior under content-free inputs (cached per example set), in label order."""
        key = tuple(id(e) for e in examples) if examples is not None else ()
        if key not in self._priors:
            if not self.content_free:
                raise ConfigError("this classifier has no content-free inputs; build it with calibrate=True")
            dists = []
            for text in self.content_free:
                blank = {v: text for v in self.prompt.input_variables}
                dists.append(_softmax(self._label_scores(self._messages(examples, blank))))
            self._priors[key] = [math.fsum(d[i] for d in dists) / len(dists) for i in range(len(self.verbalizers))]
        return self._priors[key]

    def classify(self, **variables: Any) -> Classification:
        """Classify one input (the prompt's variables)."""
        self.prompt.check_variables(variables)
        examples = self._examples(variables)
        messages = self._messages(examples, variables)
        try:
            scores = self._label_scores(messages)
        except ScoringUnavailableError as e:
            if not self.fallback:
                raise
            return self._generate(messages, str(e))
        probs = _softmax(scores)
        calibrated = bool(self.content_free)
        if calibrated:
            prior = self.prior(examples)
            weighted = [p / max(q, 1e-12) for p, q in zip(probs, prior)]
            total = math.fsum(weighted)
            probs = [w / total for w in weighted]
        best = max(range(len(probs)), key=lambda i: probs[i])
        labels = self.labels
        return Classification(labels[best], dict(zip(labels, probs)), probs[best], dict(zip(labels, scores)),
                              "likelihood", calibrated)

    __call__ = classify

    def classify_many(self, items: Sequence[Mapping[str, Any]]) -> list[Classification]:
        """Classify several inputs (one forward pass each on local models)."""
        return [self.classify(**dict(item)) for item in items]

    def _generate(self, messages: list[Message], why: str) -> Classification:
        note = (f"likelihood scoring is not available for {self.llm!r} ({why.split(';')[0]}); the label was generated "
                "under a JSON-schema constraint, so it has no probability")
        if not self._warned:
            warnings.warn(note, stacklevel=3)
            self._warned = True
        texts = list(self.verbalizers.values())
        schema = {"type": "object", "properties": {"label": {"type": "string", "enum": texts}},
                  "required": ["label"], "additionalProperties": False}
        extra = {"adapter": self.adapter} if self.adapter is not None else {}
        out = self.llm.complete(messages, response_format=schema, max_tokens=8 + max(len(t) for t in texts) // 2,
                                temperature=0.0, **extra)
        parsed = out.parsed.get("label") if isinstance(out.parsed, dict) else None
        if parsed not in texts:
            parsed = LabelParser(texts).parse(out.text).value
        label = next((k for k, v in self.verbalizers.items() if v == parsed), None)
        probs = {k: (1.0 if k == label else 0.0) for k in self.verbalizers}
        return Classification(label, probs, None, {}, "generated", False, note)

    def __repr__(self) -> str:
        cal = f", calibrate={self.content_free}" if self.content_free else ""
        return f"Classifier(labels={self.labels}, normalize={self.normalize!r}, prompt_format={self.prompt_format!r}{cal})"
