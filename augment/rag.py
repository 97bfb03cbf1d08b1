"""A RAG chatbot that answers with numbered citations and checks them.

``RAG(llm, retriever)``: :meth:`RAG.ask` / :meth:`RAG.chat` retrieve sources,
build a prompt with the sources numbered [1]..[n] (visible as ``answer.prompt``
and :meth:`RAG.show_prompt`), generate, then check the answer
(:mod:`augment.rag_checks` holds the rules):

1. a citation ``[n]`` that points to no source is removed from the answer;
2. each cited sentence is checked for support in its cited source(s) and flagged
   (``answer.unsupported``) when unsupported;
3. an uncited sentence gets the source that best supports it, marked
   ``inferred`` (small models often forget to cite); with none, it is flagged;
4. when no source is retrieved (above ``score_threshold``), the answer is
   ``no_answer`` ("I don't know...") and the LLM is NOT called;
5. a citation whose source does not support its sentence is moved to the
   source that does (``SentenceCheck.corrected_from``); a number no source
   contains makes a sentence unsupported; when nothing in the reply is
   supported, the answer is "I don't know" (``abstain_unsupported``);
6. with ``abstain_threshold`` set, when the model itself leans to "I don't
   know" (the probability it gives that reply, scored in one forward pass, is
   at least the threshold), the answer is "I don't know" even if greedy
   decoding wrote an answer; an "I don't know" answer cites nothing;
7. with ``check_answer_type`` (on), a question that asks for a kind of fact
   (a price, a weight, a year, a number...; see
   :func:`~augment.rag_checks.expected_answer_type`) whose supported answer
   gives none (asked a price, answered a weight) is answered "I don't know",
   and so is one whose figure of that kind ("20%") no source writes with
   that unit (the 20 is only in the product name).

8. ``reader`` decides who writes the answer: ``"model"``, the LLM (all of the above);
   ``"extract"``, :class:`~augment.rag_reader.ExtractiveReader`: the source sentence the
   retriever's embedder ranks closest to the question, copied verbatim with its ``[n]``, or "I
   don't know" with the reason when none of the best few gives the kind of fact asked for; the
   LLM is not called. ``"auto"`` (the default) extracts with the embedded default model
   (SmolLM2-135M, which copies the wrong sentence of the right source more often than not on
   real documents) and lets any other model write.

Follow-up questions in :meth:`RAG.chat` are rewritten into standalone queries
with one LLM call whose prompt is kept in ``answer.rewrite_prompt``.

>>> from augment.llm.fake import FakeLLM
>>> from augment.retrieval.retriever import ListRetriever
>>> from augment.types import Document
>>> rag = RAG(FakeLLM(["The Eiffel Tower is 330 metres tall [1]. It is red [7]."]),
...           ListRetriever([Document("The Eiffel Tower is 330 metres tall.", {"source": "paris.md"})]))
>>> a = rag.ask("How tall is the Eiffel Tower?")
>>> a.answer
'The Eiffel Tower is 330 metres tall [1]. It is red.'
>>> a.unsupported
['It is red.']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from augment.errors import ConfigError, ContextLengthError, InvalidMessagesError, ScoringUnavailableError
from augment.llm.base import LLM, GenerateOptions, normalize_messages
from augment.llm.defaults import DEFAULT_ADAPTER_NAME, DEFAULT_MODEL_NAME, use_default_adapter
from augment.rag_checks import CITATION, SentenceCheck, SupportChecker, check_answer, content_words, expected_answer_type
from augment.rag_reader import Extract, ExtractiveReader
from augment.types import Completion, Message, ScoredDocument

__all__ = ["RAG", "RAGAnswer", "SentenceCheck", "SYSTEM_PROMPT", "QUESTION_TEMPLATE", "REWRITE_TEMPLATE",
           "NO_ANSWER", "EMPTY_ANSWER", "EXTRACT_ANSWER", "READERS", "UNSUPPORTED_ANSWER", "UNSURE_ANSWER", "UNTYPED_ANSWER", "UNGROUNDED_ANSWER", "IDK_REPLY", "clean_answer"]

# Short on purpose: the default model's adapter was trained on this exact prompt (tools/make_rag_data.py),
# and every token of it is re-read for each answer.
SYSTEM_PROMPT = (
    "Answer the question using only the numbered sources. Copy the sentence that holds the answer and put the "
    "source number in square brackets after it, like [2]. If no source answers the question, reply: I don't know."
)

QUESTION_TEMPLATE = "Sources:\n{sources}\n\nQuestion: {question}\nAnswer:"

REWRITE_TEMPLATE = (
    "Rewrite the last question so that it can be understood without the conversation. "
    "Reply with the rewritten question only.\n\nConversation:\n{history}\n\nLast question: {question}\n"
    "Rewritten question:"
)

NO_ANSWER = "I don't know: no document in the collection matches this question."
EMPTY_ANSWER = "I don't know: the model's reply said nothing (see raw_answer)."
UNSUPPORTED_ANSWER = "I don't know: no source supports the answer the model wrote (see raw_answer)."
UNSURE_ANSWER = "I don't know: the sources do not clearly answer this (see raw_answer)."
#: filled with the kind of fact asked for ("a price"), see :func:`augment.rag_checks.expected_answer_type`
UNTYPED_ANSWER = "I don't know: the question asks for {kind} and the answer the model wrote gives none (see raw_answer)."
#: filled with the kind of fact: the answer gives one ("20%") that no source writes with that unit
UNGROUNDED_ANSWER = ("I don't know: the answer the model wrote gives {kind} that no source states "
                     "(see raw_answer).")
#: filled with :attr:`augment.rag_reader.Extract.reason` when the extractive reader finds no answer
EXTRACT_ANSWER = "I don't know: {reason}."
#: who writes the answer (``RAG(reader=...)``)
READERS = ("auto", "model", "extract")
#: the reply the grounded-answer adapter was trained to give when no source holds the answer
IDK_REPLY = "I don't know."

_HEADING_MARKS = re.compile(r"(^|\s)#{1,6}\s+")
# a small model sometimes starts a line by copying a source header: "[2] (Honey Bees) ..."
_PREAMBLE = re.compile(r"^(?:the\s+)?answer(?:\s+is)?\s*:\s*", re.I)
_ECHO = re.compile(r"^[ \t]*(?:\[\d+\][ \t]*)?\([^()\n]{1,80}\)[ \t]*:?[ \t]*", re.M)


# square brackets, kept when they are a citation as the checks read them ([2], [1, 3], [source 2]),
# dropped otherwise ("[1.5 °C]", "[see manual]")
_BRACKETS = re.compile(r"\s*\[[^\[\]\n]{0,120}\]")
_PIECES = re.compile(r"(?:[^\n.!?]|[.!?](?!\s|$))*(?:[.!?]+(?=\s|$)|\n|$)")  # sentences and lines
# a statement that stops where its answer should be: "The price is [1].", "The file is called:"
_DANGLING = re.compile(r"\b(?:is|are|was|were|be|been|of|to|the|a|an|and|or|called|named|by|at|in|on|for|with)\s*"
                       r":?\s*(?:" + CITATION.pattern + r"\s*)*[:.!?]*\s*$", re.I)


def _dangling(sentence: str) -> bool:
    """True for "The price is [1]." (nothing after the verb), not for "Bees go where food is [2]."."""
    m = _DANGLING.search(sentence)
    if m is None:
        return False
    verb = m.group(0).split()[0].lower() in {"is", "are", "was", "were", "be", "been"}
    return not (verb and re.search(r"\b(?:where|what|how|when|which|that|who|whatever|wherever)\b", sentence, re.I))


def clean_answer(raw: str, truncated: bool = False) -> str:
    """Tidy a model's reply before its citations are checked.

    Drops copied source headers, markdown heading marks, a "The answer is:"
    preamble, bracketed text that is not a citation (``[1.5 °C]``), sentences
    or lines that repeat an earlier one, and statements that stop where the
    answer should be ("The price is [1]."); when the model hit ``max_tokens``,
    the unfinished last sentence (unless it is the only one).
    """
    text = _HEADING_MARKS.sub(lambda m: m.group(1), _ECHO.sub("", raw)).strip()
    text = _BRACKETS.sub(lambda m: m.group(0) if CITATION.fullmatch(m.group(0).strip()) else "", _PREAMBLE.sub("", text))
    text = re.sub(r"\s*\[[^\[\]\n]*$", "", text)  # and one left open at max_tokens
    if truncated and not re.search(r"[.!?\]]\s*$", text):
        cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "), text.rfind(".\n"), text.rfind("]\n"))
        if cut > 0:
            text = text[: cut + 1].rstrip()
    kept, seen = [], set()
    for piece in _PIECES.findall(text):
        key = " ".join(CITATION.sub("", piece).lower().split()).strip(" -*:.!?")
        if key and (key in seen or _dangling(piece.strip().lstrip("-* "))):
            continue
        seen.add(key)
        kept.append(piece)
    return "".join(kept).strip()


@dataclass
class RAGAnswer:
    """The checked result of one RAG turn.

    ``answer``: the final text (invalid citations removed, inferred ones added);
    ``sources``: the retrieved documents, numbered from 1 in that order;
    ``citations``: ``{n: source}`` for every [n] left in the answer;
    ``unsupported``: sentences no (cited) source supports; ``sentences``: the
    per-sentence checks; ``idk_probability``: the probability the model gave the
    reply "I don't know." (None when not scored); ``prompt``: the exact text sent
    to the model.
    """

    answer: str
    question: str
    query: str
    sources: list[ScoredDocument] = field(default_factory=list)
    citations: dict[int, ScoredDocument] = field(default_factory=dict)
    sentences: list[SentenceCheck] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    removed_citations: list[int] = field(default_factory=list)
    abstained: bool = False
    idk_probability: float | None = None
    prompt: str = ""
    rewrite_prompt: str | None = None
    raw_answer: str = ""
    completion: Completion | None = None
    #: who wrote the answer: "model" (the LLM), "extract" (:class:`~augment.rag_reader.ExtractiveReader`)
    #: or "none" (retrieval found nothing, so neither was asked)
    reader: str = "model"
    #: the extractive reader's pick, ranking and reason (``reader == "extract"``)
    extract: Extract | None = None

    @property
    def inferred_citations(self) -> list[int]:
        """Source numbers attached by the fallback (not written by the model)."""
        return sorted({n for s in self.sentences if s.inferred for n in s.citations})

    def format_sources(self) -> str:
        """One line per cited source: ``[n] source-path (score 0.71)``."""
        lines = []
        for n, src in sorted(self.citations.items()):
            where = src.metadata.get("source") or src.metadata.get("title") or src.id or "?"
            lines.append(f"[{n}] {where} (score {src.score:.3f})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.answer


class RAG:
    """Retrieval-augmented chat with numbered, checked citations.

    ``k``: sources per question; ``score_threshold``: drop sources scoring
    below it (abstain when none is left); ``prompt``: the user-turn template
    with ``{sources}`` and ``{question}``; ``system``: the system prompt;
    ``history_rewrite``: rewrite follow-ups into standalone queries;
    ``infer_citations``: attach the best-supporting source to uncited sentences, and
    point a citation that does not support its sentence at the source that does;
    ``abstain_unsupported``: when no sentence of the reply is supported by the
    sources (e.g. a figure no source contains), answer "I don't know" (the
    reply stays in ``raw_answer``);
    ``abstain_threshold``: answer "I don't know" when the probability the model gives the reply
    "I don't know." is at least this (one scoring pass after generation, local models only;
    ``RAGAnswer.idk_probability``); None (the default) does not score. Off by default because on the
    development set (``tests/data/rag_dev``) no threshold bought abstentions without losing about as
    many correct answers with the default model;
    ``check_answer_type``: answer "I don't know" when the question asks for a kind of fact (a price,
    a weight, a number...) and the supported part of the reply gives none, or gives a figure of
    that kind ("20%", "EUR 14") that no retrieved source writes with that unit (the reply stays
    in ``raw_answer``);
    ``checker``: the support rule (:class:`~augment.rag_checks.SupportChecker`);
    ``reader``: ``"model"`` (the LLM writes the answer), ``"extract"`` (the best source sentence,
    copied: :class:`~augment.rag_reader.ExtractiveReader`) or ``"auto"`` (extract with the embedded
    135M default model, the LLM otherwise; :attr:`reads` tells which).

    >>> from augment import load_llm, ChromaStore   # doctest: +SKIP
    >>> from augment.retrieval.retriever import hybrid_retriever   # doctest: +SKIP
    >>> rag = RAG(load_llm(), hybrid_retriever(ChromaStore("docs")))   # doctest: +SKIP
    >>> print(rag.ask("What is BM25?").answer)   # doctest: +SKIP
    """

    def __init__(self, llm: LLM, retriever: Any, k: int = 4, score_threshold: float | None = None,
                 prompt: str | None = None, history_rewrite: bool = True, system: str | None = None,
                 no_answer: str = NO_ANSWER, infer_citations: bool = True, checker: SupportChecker | None = None,
                 max_tokens: int = 200, max_source_chars: int = 1500, max_history: int = 6,
                 abstain_unsupported: bool = True, abstain_threshold: float | None = None,
                 check_answer_type: bool = True, reader: str = "auto", **options: Any):
        if not isinstance(llm, LLM):
            raise ConfigError(f"RAG needs an augment LLM (e.g. augment.load_llm()), got {type(llm).__name__}")
        if not callable(getattr(retriever, "retrieve", None)):
            raise ConfigError(f"RAG needs a retriever with retrieve(query, k), got {type(retriever).__name__}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        self.prompt = prompt or QUESTION_TEMPLATE
        for var in ("{sources}", "{question}"):
            if var not in self.prompt:
                raise ConfigError(f"the RAG prompt template must contain {var}; got {self.prompt!r}")
        self.llm, self.retriever, self.k, self.score_threshold = llm, retriever, k, score_threshold
        self.history_rewrite, self.system = history_rewrite, SYSTEM_PROMPT if system is None else system
        self.no_answer, self.infer_citations, self.abstain_unsupported = no_answer, infer_citations, abstain_unsupported
        self.checker = checker or SupportChecker(embedder=getattr(retriever, "embedder", None))
        self.max_source_chars, self.max_history = max_source_chars, max_history
        self.options = {"max_tokens": max_tokens, **options}
        use_default_adapter(llm, self.options)  # augment's grounded-answer adapter, when load_llm() loaded it
        GenerateOptions.build(**self.options)  # a bad option fails here, not at the first question
        if abstain_threshold is not None and (isinstance(abstain_threshold, bool) or
                                              not isinstance(abstain_threshold, (int, float)) or
                                              not 0.0 < abstain_threshold <= 1.0):
            raise ConfigError(f"abstain_threshold must be a probability in (0, 1], e.g. 0.3, or None (off); "
                              f"got {abstain_threshold!r}")
        self.abstain_threshold, self.check_answer_type = abstain_threshold, check_answer_type
        if reader not in READERS:
            raise ConfigError(f"reader={reader!r}; use one of {', '.join(map(repr, READERS))}")
        self.reader = reader
        self.extractor = ExtractiveReader(embedder=self.checker.embedder, check_answer_type=check_answer_type)

    @property
    def reads(self) -> str:
        """Who writes the answers: ``"model"`` or ``"extract"`` (``reader="auto"`` resolved)."""
        if self.reader != "auto":
            return self.reader
        default = str(getattr(self.llm, "model_name", "")).startswith(DEFAULT_MODEL_NAME) and \
            self.options.get("adapter") in (None, DEFAULT_ADAPTER_NAME)
        return "extract" if default else "model"

    # ---- building blocks ------------------------------------------------
    def retrieve(self, query: str) -> list[ScoredDocument]:
        """The sources for ``query``, above ``score_threshold``, best first."""
        hits = self.retriever.retrieve(query, self.k)
        if self.score_threshold is not None:
            hits = [h for h in hits if h.score >= self.score_threshold]
        return list(hits)[: self.k]

    def source_text(self, src: ScoredDocument) -> str:
        """A source as the model sees it (its title, then its text); citations are checked against this."""
        label = src.metadata.get("title") or src.metadata.get("source")
        text = " ".join(_HEADING_MARKS.sub(lambda m: m.group(1), src.text).split())[: self.max_source_chars]
        return (f"({label}) " if label else "") + text

    def format_sources(self, sources: Sequence[ScoredDocument]) -> str:
        return "\n".join(f"[{n}] {self.source_text(src)}" for n, src in enumerate(sources, start=1))

    def build_messages(self, question: str, sources: Sequence[ScoredDocument],
                       history: Sequence[Message] = ()) -> list[Message]:
        """The exact conversation sent to the model: system, recent history, sources + question."""
        user = self.prompt.replace("{sources}", self.format_sources(sources)).replace("{question}", question)
        msgs = [Message.system(self.system)] if self.system else []
        recent = [m for m in history if m.role in ("user", "assistant")][-self.max_history:]
        return msgs + list(recent) + [Message.user(user)]

    def rewrite_query(self, messages: Sequence[Message]) -> tuple[str, str | None]:
        """``(standalone query, rewrite prompt or None)`` for the last user message of ``messages``."""
        question = messages[-1].content
        history = [m for m in messages[:-1] if m.role in ("user", "assistant") and m.content.strip()]
        if not self.history_rewrite or not history:
            return question, None
        convo = "\n".join(f"{m.role}: {m.content.strip()}" for m in history[-self.max_history:])
        prompt = REWRITE_TEMPLATE.format(history=convo, question=question)
        text = self.llm.complete(prompt, max_tokens=48, temperature=0.0).text
        rewritten = next((ln.strip().strip('"') for ln in text.splitlines() if ln.strip()), "")
        return (rewritten if len(rewritten) >= 3 else question), prompt

    def idk_probability(self, messages: Sequence[Message]) -> float | None:
        """The probability the model gives :data:`IDK_REPLY` as its reply to ``messages`` (with RAG's
        adapter); None when ``abstain_threshold`` is off or the model cannot score (a remote server)."""
        if self.abstain_threshold is None:
            return None
        opts = {"adapter": self.options["adapter"]} if self.options.get("adapter") else {}
        try:
            [s] = self.llm.score(list(messages), [IDK_REPLY], **opts)
        except (ScoringUnavailableError, ContextLengthError):
            return None
        return math.exp(s.logprob)

    def _prepare(self, messages: Any) -> tuple[list[Message], str, str, str | None, list[ScoredDocument]]:
        msgs = normalize_messages(messages)
        if msgs[-1].role != "user" or not msgs[-1].content.strip():
            raise InvalidMessagesError("the last message must be a non-empty user question")
        question = msgs[-1].content
        query, rewrite_prompt = self.rewrite_query(msgs)
        return msgs, question, query, rewrite_prompt, self.retrieve(query)

    def _render(self, messages: list[Message]) -> str:
        try:
            return self.llm.render_prompt(messages)
        except Exception:  # a model without a chat template: show the messages themselves
            return LLM.render_prompt(self.llm, messages)

    def _finish(self, question: str, query: str, sources: list[ScoredDocument], raw: str, messages: list[Message],
                rewrite_prompt: str | None, completion: Completion | None) -> RAGAnswer:
        truncated = completion is not None and completion.finish_reason == "length"
        checked = check_answer(clean_answer(raw, truncated), [self.source_text(s) for s in sources], self.checker,
                               infer=self.infer_citations)
        citations = {n: sources[n - 1] for n in checked.cited}
        if not any(content_words(s.text) for s in checked.sentences):  # e.g. "The answer is: [4]."
            checked.text = EMPTY_ANSWER
        elif self.abstain_unsupported and any(s.flagged for s in checked.sentences) and \
                not any(s.supported for s in checked.sentences):  # every claim it made is unsupported
            checked.text = UNSUPPORTED_ANSWER
        idk = checked.text.strip().lower().startswith(("i don't know", "i do not know"))
        kind = expected_answer_type(question) if self.check_answer_type and not idk else None
        said = [s.text for s in checked.sentences if not (s.flagged and self.abstain_unsupported)]
        if kind is not None and not kind.matches(" ".join(said)):
            checked.text, idk = UNTYPED_ANSWER.format(kind=kind.name), True  # e.g. asked a price, got a weight
        elif kind is not None and kind.unit:
            given = kind.values(" ".join(said))
            stated = set().union(*(kind.values(self.source_text(s)) for s in sources))
            if given and not given & stated:  # "20%" where the sources have 20 only in a name ("Fold 20")
                checked.text, idk = UNGROUNDED_ANSWER.format(kind=kind.name), True
        p_idk = None if idk else self.idk_probability(messages)
        if p_idk is not None and p_idk >= self.abstain_threshold:
            checked.text, idk = UNSURE_ANSWER, True
        if idk:
            citations = {}  # an "I don't know" cites nothing
        return RAGAnswer(answer=checked.text, question=question, query=query, sources=sources, citations=citations,
                         sentences=checked.sentences, unsupported=[s.text for s in checked.sentences if s.flagged],
                         removed_citations=checked.removed, abstained=idk, idk_probability=p_idk,
                         prompt=self._render(messages),
                         rewrite_prompt=rewrite_prompt, raw_answer=raw, completion=completion)

    def _extract(self, question: str, query: str, sources: list[ScoredDocument], messages: list[Message],
                 rewrite_prompt: str | None) -> RAGAnswer:
        """The extractive reader's answer, through the same checks as a model's (see ``reader``)."""
        # the reader sees each source's lines (headings, lists), the checks its flattened text
        found = self.extractor.read(query if rewrite_prompt else question,
                                    [s.text[: self.max_source_chars] for s in sources])
        if found.abstained:
            return RAGAnswer(answer=EXTRACT_ANSWER.format(reason=found.reason), question=question, query=query,
                             sources=sources, abstained=True, prompt=self._render(messages),
                             rewrite_prompt=rewrite_prompt, raw_answer=found.answer, reader="extract", extract=found)
        answer = self._finish(question, query, sources, found.answer, messages, rewrite_prompt, None)
        answer.reader, answer.extract = "extract", found
        return answer

    def _abstain(self, question: str, query: str, rewrite_prompt: str | None) -> RAGAnswer:
        return RAGAnswer(answer=self.no_answer, question=question, query=query, abstained=True,
                         rewrite_prompt=rewrite_prompt, raw_answer=self.no_answer, reader="none")

    # ---- public API -----------------------------------------------------
    def chat(self, messages: Any) -> RAGAnswer:
        """Answer the last user message of a conversation (earlier turns are history)."""
        msgs, question, query, rewrite_prompt, sources = self._prepare(messages)
        if not sources:
            return self._abstain(question, query, rewrite_prompt)
        final = self.build_messages(query if rewrite_prompt else question, sources, msgs[:-1])
        if self.reads == "extract":
            return self._extract(question, query, sources, final, rewrite_prompt)
        completion = self.llm.complete(final, **self.options)
        return self._finish(question, query, sources, completion.text, final, rewrite_prompt, completion)

    def ask(self, question: str) -> RAGAnswer:
        """Answer one question (no history)."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidMessagesError(f"the question must be a non-empty string, got {question!r}")
        return self.chat([Message.user(question)])

    __call__ = ask

    def stream(self, question: Any) -> Iterator[str | RAGAnswer]:
        """Yield text deltas as the model writes them, then the checked :class:`RAGAnswer`.

        The deltas are the model's raw text; the final answer is the checked one
        (invalid citations removed, inferred ones added). ``question`` may be a
        string or a conversation.
        """
        msgs, question_text, query, rewrite_prompt, sources = self._prepare(question)
        if not sources:
            answer = self._abstain(question_text, query, rewrite_prompt)
            yield answer.answer
            yield answer
            return
        final = self.build_messages(query if rewrite_prompt else question_text, sources, msgs[:-1])
        if self.reads == "extract":
            answer = self._extract(question_text, query, sources, final, rewrite_prompt)
            yield answer.answer
            yield answer
            return
        parts: list[str] = []
        completion: Completion | None = None
        for item in self.llm.stream(final, **self.options):
            if isinstance(item, Completion):
                completion = item
            else:
                parts.append(item)
                yield item
        raw = completion.text if completion is not None else "".join(parts)
        yield self._finish(question_text, query, sources, raw, final, rewrite_prompt, completion)

    def show_prompt(self, question: Any) -> str:
        """The exact prompt the model would get for ``question`` (retrieval runs; generation does not)."""
        msgs, question_text, query, rewrite_prompt, sources = self._prepare(question)
        if not sources:
            return f"(no source above the threshold: the answer would be {self.no_answer!r} without calling the model)"
        return self._render(self.build_messages(query if rewrite_prompt else question_text, sources, msgs[:-1]))

    def __repr__(self) -> str:
        return (f"RAG({self.llm!r}, {self.retriever!r}, k={self.k}, score_threshold={self.score_threshold}, "
                f"reader={self.reader!r})")
