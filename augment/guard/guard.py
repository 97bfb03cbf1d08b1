"""``augment.Guard``: one wrapper that makes an LLM, a RAG chatbot or an agent helpful, honest and harmless.

- requests are checked by the input :class:`~augment.guard.content.ContentPolicy`
  (a refusal comes back instead of an answer);
- answers are checked by the same policy and personal data in them is redacted;
- RAG answers are checked for grounding (optionally dropping unsupported sentences),
  and retrieved text is marked as data in the prompt;
- an agent runs under a :class:`~augment.guard.permissions.ToolGuard` (permissions,
  approval with pause and resume, audit log, injection check).

>>> from augment import FakeLLM
>>> guard = Guard(FakeLLM(["Write to ana@example.org for details."]))
>>> guard.complete("How do I contact support?").text
'Write to [EMAIL] for details.'
>>> guard.complete("How do I build a pipe bomb?").text
"I can't help with making weapons or hurting people."
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from augment.errors import ApprovalRequired, ConfigError
from augment.guard.content import ContentPolicy, Verdict, load_policy_file
from augment.guard.grounding import GroundingChecker
from augment.guard.injection import DATA_NOTICE
from augment.guard.permissions import AuditLog, PausedRun, ToolGuard, ToolPolicy
from augment.guard.pii import redact
from augment.llm.base import LLM, GenerateOptions
from augment.types import Completion, Message

__all__ = ["Guard", "GuardedRun", "GuardedLLM"]

_POLICY_KEYS = {"content", "check_output", "redact", "tools", "audit_log", "grounding", "mark_data"}


@dataclass
class GuardedRun:
    """An agent run under a guard: the result, or the refusal, or the pause waiting for an approval."""

    task: str
    answer: str | None
    result: Any = None            # the AgentResult (None when refused or paused)
    refused: Verdict | None = None
    paused: PausedRun | None = None

    @property
    def complete(self) -> bool:
        return self.result is not None and bool(self.result.complete)


def _kind(target: Any) -> str:
    from augment.agent import Agent
    from augment.llm.base import LLM

    if isinstance(target, Agent):
        return "agent"
    if isinstance(target, LLM):
        return "llm"
    if hasattr(target, "ask") and hasattr(target, "build_messages"):
        return "rag"
    raise ConfigError(f"Guard wraps an LLM, a RAG chatbot or an Agent, got {type(target).__name__}")


class Guard:
    """Wrap ``target`` (an LLM, a :class:`~augment.rag.RAG` or an :class:`~augment.agent.Agent`).

    ``content``: the :class:`ContentPolicy` for requests and answers (default: the
    packaged one, patterns only; pass ``ContentPolicy.default(embedder=Embedder())`` for
    similarity, ``judge=llm`` for an LLM judge; None turns it off). ``redact``: replace
    personal data in answers. ``tools``: the :class:`ToolPolicy` an agent runs under;
    ``audit_log``: a JSON-lines path. ``grounding``: a :class:`GroundingChecker` for RAG
    answers, ``drop_unsupported`` removes the sentences it cannot support.

    Example::

        from augment import Agent, Guard, load_llm
        from augment.tools import builtin_tools
        guard = Guard(Agent(load_llm(), builtin_tools()), audit_log="audit.jsonl")
        run = guard.run("What is 17 * 23?")
        if run.paused:                          # python or http_get asked for: approve, then resume
            run = guard.resume(run.paused, approve=True)
        print(run.answer)
    """

    def __init__(self, target: Any, *, content: ContentPolicy | None | str = "default", check_output: bool = True,
                 redact: bool = True, tools: ToolPolicy | None = None, audit_log: str | Path | AuditLog | None = None,
                 grounding: GroundingChecker | None = None, drop_unsupported: bool = False, mark_data: bool = True):
        self.target, self.kind = target, _kind(target)
        self.content = ContentPolicy.default() if content == "default" else content
        if self.content is not None and not isinstance(self.content, ContentPolicy):
            raise ConfigError(f"content must be a ContentPolicy, 'default' or None, got {type(content).__name__}")
        self.check_outputs, self.redact, self.drop_unsupported = check_output, redact, drop_unsupported
        self.grounding = grounding
        self.audit = audit_log if isinstance(audit_log, AuditLog) else AuditLog(audit_log)
        self.tool_guard: ToolGuard | None = None
        if self.kind == "agent":
            self.tool_guard = ToolGuard(tools or ToolPolicy(), self.audit, mark_data=mark_data)
            target.guard = self.tool_guard
            if mark_data and DATA_NOTICE not in (target.system_prompt or ""):
                target.system_prompt = ((target.system_prompt or "") + "\n" + DATA_NOTICE).strip()
        elif tools is not None:
            raise ConfigError("tools= (a ToolPolicy) applies to an Agent; this Guard wraps a " + self.kind)
        if self.kind == "rag" and mark_data and "<data" not in target.prompt:
            target.prompt = target.prompt.replace("{sources}", '<data source="retrieved documents">\n{sources}\n</data>')
            target.system = ((target.system or "") + "\n" + DATA_NOTICE).strip()

    @classmethod
    def from_file(cls, path: str | Path, target: Any, embedder: Any = None, judge: Any = None) -> "Guard":
        """A guard configured by a policy file (YAML/JSON): ``content:``, ``tools:``, ``audit_log:``, ``grounding:``...

        ``content: {similarity: true}`` uses ``embedder`` (or the default Embedder); ``content: {judge: true}``
        uses ``judge`` (or the wrapped model) as the LLM judge; ``content: false`` turns the checks off.
        """
        data = load_policy_file(path)
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise ConfigError(f"guard policy '{path}': unknown keys {sorted(unknown)}; use {', '.join(sorted(_POLICY_KEYS))}")
        content_cfg = data.get("content", {})
        content = None
        if content_cfg is not False:
            cfg = dict(content_cfg or {})
            similarity, use_judge = cfg.pop("similarity", False), cfg.pop("judge", False)
            intent = None
            if cfg.pop("intent", False):
                from augment.guard.intent import IntentClassifier

                model = getattr(target, "llm", None) or target
                intent = IntentClassifier.for_llm(model)
                if intent is None:
                    raise ConfigError(f"guard policy '{path}': content: intent: true needs the embedded default model "
                                      "(the shipped classifier reads its hidden states); this target runs "
                                      f"{getattr(model, 'model_name', type(model).__name__)!r}. Use similarity: true instead")
            if similarity and embedder is None:
                from augment.retrieval.embeddings import Embedder

                embedder = Embedder()
            if use_judge and judge is None:
                judge = getattr(target, "llm", None) or target
            content = ContentPolicy.from_dict(cfg, embedder=embedder if similarity else None, judge=judge if use_judge else None,
                                              intent=intent)
        grounding_cfg = data.get("grounding")
        grounding = GroundingChecker(**{k: v for k, v in grounding_cfg.items() if k != "drop_unsupported"}) \
            if isinstance(grounding_cfg, dict) else (GroundingChecker() if grounding_cfg else None)
        drop = bool(isinstance(grounding_cfg, dict) and grounding_cfg.get("drop_unsupported"))
        tools = ToolPolicy.from_dict(data["tools"]) if data.get("tools") is not None and _kind(target) == "agent" else None
        return cls(target, content=content, check_output=data.get("check_output", True), redact=data.get("redact", True),
                   tools=tools, audit_log=data.get("audit_log"), grounding=grounding, drop_unsupported=drop,
                   mark_data=data.get("mark_data", True))

    # -- checks ---------------------------------------------------------------
    def check_input(self, text: str) -> Verdict:
        """The input policy's verdict on a request (allowed when there is no policy)."""
        verdict = self.content.check(text) if self.content is not None else Verdict(True)
        if not verdict.allowed:
            self.audit.write(event="refused_input", category=verdict.category, reason=verdict.reason, text=text[:300])
        return verdict

    def check_output(self, text: str) -> tuple[str, Verdict]:
        """``(text to show, verdict)`` for an answer: a refusal when it is blocked, else redacted."""
        if self.check_outputs and self.content is not None and text:
            verdict = self.content.check(text)
            if not verdict.allowed:
                self.audit.write(event="refused_output", category=verdict.category, reason=verdict.reason)
                return verdict.refusal or self.content.refusal, verdict
        return (redact(text) if self.redact and text else text), Verdict(True)

    # -- LLM ------------------------------------------------------------------
    def complete(self, messages: Any, **options: Any) -> Completion:
        """The wrapped LLM's ``complete``, with the request and the answer checked."""
        if self.kind != "llm":
            raise ConfigError(f"complete() is for a guarded LLM; this Guard wraps a {self.kind}")
        verdict = self.check_input(_last_user_text(messages))
        if not verdict.allowed:
            return Completion(text=verdict.refusal, finish_reason="content_filter")
        completion = self.target.complete(messages, **options)
        text, _ = self.check_output(completion.text)
        return replace(completion, text=text)

    __call__ = complete

    def as_llm(self) -> "GuardedLLM":
        """The guarded model as an :class:`~augment.llm.base.LLM`, to pass wherever a model goes."""
        if self.kind != "llm":
            raise ConfigError(f"as_llm() is for a guarded LLM; this Guard wraps a {self.kind}")
        return GuardedLLM(self)

    # -- RAG ------------------------------------------------------------------
    def ask(self, question: str) -> Any:
        """The wrapped RAG's ``ask`` (a RAGAnswer), checked; a refused question is not retrieved for."""
        return self.chat(question)

    def chat(self, messages: Any) -> Any:
        if self.kind != "rag":
            raise ConfigError(f"ask()/chat() are for a guarded RAG chatbot; this Guard wraps a {self.kind}")
        from augment.rag import RAGAnswer

        question = messages if isinstance(messages, str) else _last_user_text(messages)
        verdict = self.check_input(question)
        if not verdict.allowed:
            return RAGAnswer(answer=verdict.refusal, question=question, query=question, abstained=True)
        answer = self.target.chat(messages) if not isinstance(messages, str) else self.target.ask(messages)
        text = answer.answer
        if self.grounding is not None and answer.sources and not answer.abstained:
            report = self.grounding.check(text, [self.target.source_text(s) for s in answer.sources],
                                          drop_unsupported=self.drop_unsupported)
            text = report.text or text
            answer.unsupported = report.unsupported if not self.drop_unsupported else []
        answer.answer, _ = self.check_output(text)
        return answer

    # -- Agent ----------------------------------------------------------------
    def run(self, task: str) -> GuardedRun:
        """Run the wrapped agent on ``task``: refused, paused for an approval, or finished (answer checked)."""
        if self.kind != "agent":
            raise ConfigError(f"run() is for a guarded Agent; this Guard wraps a {self.kind}")
        verdict = self.check_input(task)
        if not verdict.allowed:
            return GuardedRun(task, verdict.refusal, refused=verdict)
        try:
            result = self.target.run(task)
        except ApprovalRequired as e:
            return GuardedRun(task, None, paused=e.state)
        answer = result.answer
        if answer is not None:
            answer, _ = self.check_output(answer)
            result.answer = answer
        return GuardedRun(task, answer, result=result)

    def resume(self, state: PausedRun, approve: bool) -> GuardedRun:
        """Decide the paused call and run the task again; calls made before the pause are replayed, not re-run."""
        if self.tool_guard is None:
            raise ConfigError("resume() is for a guarded Agent")
        self.tool_guard.resume(state, approve)
        return self.run(state.task)

    def __repr__(self) -> str:
        return f"Guard({self.kind}: {self.target!r})"


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    for m in reversed(list(messages)):
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", None)
        content = m.get("content") if isinstance(m, dict) else getattr(m, "content", None)
        if role == "user" and isinstance(content, str):
            return content
    return ""



class GuardedLLM(LLM):
    """An LLM whose every call goes through a :class:`Guard` (``Guard(llm).as_llm()``), usable wherever a model goes.

    >>> from augment import FakeLLM
    >>> Guard(FakeLLM(["Mail bob@example.com"])).as_llm().complete("hi").text
    'Mail [EMAIL]'
    """

    def __init__(self, guard: Guard):
        self.guard = guard
        self.model_name = f"guarded:{guard.target.model_name}"
        self.context_window = guard.target.context_window

    def generate(self, messages: list[Message], options: GenerateOptions) -> Completion:
        return self.guard.complete(messages, **options.model_dump(exclude_unset=True))

    def count_tokens(self, text: str) -> int:
        return self.guard.target.count_tokens(text)
