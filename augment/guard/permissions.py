"""Tool permissions: a policy per tool and per kind of action, approval (now or later), an audit log.

A :class:`ToolGuard` is what an :class:`~augment.agent.Agent` runs under
(``Agent(llm, tools, guard=ToolGuard(...))``). Before each call it decides with its
:class:`ToolPolicy`: ``allow``, ``deny`` (the model reads that the call was denied,
error kind ``"denied"``) or ``ask`` (the ``ask`` callback sees the tool and its
arguments; without a callback the run pauses with :class:`~augment.errors.ApprovalRequired`,
whose :class:`PausedRun` can be saved, approved later and resumed). Every decision
and result goes to the audit log (JSON lines, personal data redacted). Results are
marked as data (see :mod:`augment.guard.injection`), and a call to an outward tool
(network, code) whose arguments come from such data is blocked or asked about.

>>> from augment import Agent, FakeLLM, ToolCall
>>> from augment.tools import builtin
>>> from augment.guard import ToolGuard, ToolPolicy
>>> llm = FakeLLM([ToolCall("http_get", {"url": "https://example.com"}), "I could not fetch it."])
>>> agent = Agent(llm, [builtin("http_get")], guard=ToolGuard(ToolPolicy(network="deny")))
>>> agent.run("Fetch example.com").steps[0].error
'denied'
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from augment.errors import ApprovalRequired, ConfigError
from augment.guard.injection import DataTracker
from augment.guard.pii import redact
from augment.tools.base import PERMISSIONS

__all__ = ["ToolPolicy", "ToolRequest", "ToolGuard", "AuditLog", "PausedRun", "DECISIONS", "DEFAULT_RULES"]

DECISIONS = ("allow", "ask", "deny")
#: code execution, network and writes need an explicit allow (or an approval)
DEFAULT_RULES = {"read_only": "allow", "writes": "ask", "network": "ask", "code_execution": "ask"}
_OUTWARD = ("network", "code_execution", "writes")


@dataclass
class ToolRequest:
    """A call waiting for a decision: what the ``ask`` callback is shown."""

    tool: str
    arguments: Any
    permissions: tuple[str, ...]
    reason: str = ""
    from_data: list[str] = field(default_factory=list)  # argument parts copied from retrieved or tool text

    def describe(self) -> str:
        args = json.dumps(self.arguments, ensure_ascii=False, default=str)
        kinds = ", ".join(self.permissions) or "undeclared"
        extra = f"; taken from untrusted data: {', '.join(self.from_data)}" if self.from_data else ""
        return f"{self.tool}({args}) [{kinds}]: {self.reason}{extra}"


def call_key(name: str, arguments: Any) -> str:
    return name + json.dumps(arguments, sort_keys=True, default=str)


class ToolPolicy:
    """Decide ``allow`` / ``ask`` / ``deny`` for a tool call.

    Rules by permission (``network="allow"``) and by tool name (``tools={"python": "allow"}``,
    which wins); a tool with several permissions gets the strictest. ``undeclared``: the
    decision for tools that declare no permission. ``injection``: the decision for an
    outward call (network, code, writes) whose arguments come from retrieved or tool text
    (``"ask"`` or ``"deny"``). ``ask``: a callback ``(ToolRequest) -> bool | None``;
    None (or no callback) pauses the run for a later approval.

    >>> policy = ToolPolicy(network="allow", tools={"python": "deny"})
    >>> policy.decide("http_get", ("network",))[0], policy.decide("python", ("code_execution",))[0]
    ('allow', 'deny')
    """

    def __init__(self, *, tools: dict[str, str] | None = None, undeclared: str = "allow", injection: str = "ask",
                 ask: Callable[[ToolRequest], bool | None] | None = None, **permissions: str):
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            raise ConfigError(f"ToolPolicy: unknown permission {', '.join(unknown)}; use {', '.join(PERMISSIONS)}")
        self.rules = {**DEFAULT_RULES, **permissions}
        self.tools = dict(tools or {})
        self.undeclared, self.injection, self.ask = undeclared, injection, ask
        for where, value in [*self.rules.items(), *self.tools.items(), ("undeclared", undeclared), ("injection", injection)]:
            if value not in DECISIONS:
                raise ConfigError(f"ToolPolicy: {where}={value!r} is not a decision; use one of {', '.join(DECISIONS)}")
        if injection == "allow":
            raise ConfigError("ToolPolicy: injection must be 'ask' or 'deny' (outward calls built from untrusted text)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToolPolicy":
        """From the ``tools:`` part of a policy file (``{network: allow, tools: {python: deny}}``)."""
        return cls(**{str(k): v for k, v in (data or {}).items()})

    def decide(self, tool: str, permissions: Iterable[str], from_data: bool = False) -> tuple[str, str]:
        """``(decision, reason)`` for a call of ``tool`` that does ``permissions``."""
        permissions = tuple(permissions)
        if tool in self.tools:
            decision, reason = self.tools[tool], f"the policy says {self.tools[tool]} for tool '{tool}'"
        elif not permissions:
            decision, reason = self.undeclared, f"'{tool}' declares no permissions (policy for undeclared: {self.undeclared})"
        else:
            decision = max((self.rules[p] for p in permissions), key=DECISIONS.index)
            why = [p for p in permissions if self.rules[p] == decision]
            reason = f"{' and '.join(why)} {'is' if len(why) == 1 else 'are'} set to {decision}"
            if decision == "ask":
                reason += " (an explicit allow is needed, or an approval)"
        if from_data and any(p in _OUTWARD for p in permissions) and DECISIONS.index(self.injection) > DECISIONS.index(decision):
            decision, reason = self.injection, "its arguments come from retrieved or tool text (possible prompt injection)"
        return decision, reason


class AuditLog:
    """Every tool call, decision and result as one JSON object per line (personal data redacted).

    >>> import tempfile, os
    >>> log = AuditLog(os.path.join(tempfile.mkdtemp(), "audit.jsonl"))
    >>> log.write(event="decision", tool="calculator", arguments={"expression": "1+1"}, decision="allow")
    >>> log.read()[0]["decision"]
    'allow'
    """

    def __init__(self, path: str | Path | None = None, redact_pii: bool = True):
        self.path = Path(path) if path is not None else None
        self.redact_pii = redact_pii
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **entry: Any) -> None:
        entry = {"time": round(time.time(), 3), **entry}
        text = json.dumps(entry, ensure_ascii=False, default=str)
        if self.redact_pii:
            text = redact(text)
            entry = json.loads(text)
        with self._lock:
            self.entries.append(entry)
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(text + "\n")

    def read(self) -> list[dict[str, Any]]:
        """The entries written so far (from the file when there is one)."""
        if self.path is None or not self.path.exists():
            return list(self.entries)
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class PausedRun:
    """A run stopped for an approval: save it, decide later, resume with :meth:`ToolGuard.resume`."""

    task: str
    pending: dict[str, Any]
    results: dict[str, str] = field(default_factory=dict)    # call key -> observation already produced
    approvals: dict[str, str] = field(default_factory=dict)  # call key -> "allow" / "deny"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PausedRun":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise ConfigError(f"cannot read the paused run '{path}' ({e}); pass a file written by PausedRun.save") from None


class ToolGuard:
    """The hook an :class:`~augment.agent.Agent` calls around each tool call (see the module doc).

    >>> from augment.tools import builtin
    >>> from augment.types import ToolCall
    >>> guard = ToolGuard(ToolPolicy(code_execution="deny"))
    >>> guard.start("compute")
    >>> guard.before_call(ToolCall("python", {"code": "1"}), builtin("python", sandbox="none"))[1]
    'denied'
    """

    def __init__(self, policy: ToolPolicy | None = None, audit: AuditLog | str | Path | None = None,
                 mark_data: bool = True):
        self.policy = policy or ToolPolicy()
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog(audit)
        self.mark_data = mark_data
        self.data = DataTracker()
        self.task = ""
        self.results: dict[str, str] = {}
        self.approvals: dict[str, str] = {}
        self._resuming = False

    def start(self, task: str) -> None:
        """A run begins: ``task`` is trusted text; data seen before is forgotten."""
        self.task = task
        self.data = DataTracker(trusted=[task])
        if not self._resuming:  # a fresh run: nothing to replay, no approvals carried over
            self.results, self.approvals = {}, {}
        self._resuming = False
        self.audit.write(event="start", task=task)

    def add_data(self, text: str, source: str = "document") -> str:
        """Record untrusted text (a retrieved document) and return it marked as data."""
        self.data.add(text)
        return self.data.mark(text, source) if self.mark_data else text

    def before_call(self, call: Any, tool: Any) -> tuple[str, str] | None:
        """None to run the call; ``(observation, error kind)`` when it is denied or replayed."""
        key = call_key(call.name, call.arguments)
        permissions = tuple(getattr(tool, "permissions", ()) or ())
        if key in self.results:  # a resumed run: this call already ran before the pause
            self.audit.write(event="replay", tool=call.name, arguments=call.arguments)
            return self.add_data(self.results[key], f"tool {call.name}"), None
        from_data = self.data.copied_parts(call.arguments) if any(p in _OUTWARD for p in permissions) else []
        decision, reason = self.policy.decide(call.name, permissions, bool(from_data))
        request = ToolRequest(call.name, call.arguments, permissions, reason, from_data)
        if decision == "ask":
            decision, reason = self._approve(key, request)
        self.audit.write(event="decision", tool=call.name, arguments=call.arguments, permissions=list(permissions),
                         decision=decision, reason=reason, from_data=from_data)
        if decision == "allow":
            return None
        return (f"Error: the call {call.name} was denied by the guard ({reason}). Do not repeat it; "
                "answer with what you have, or say that you could not do it."), "denied"

    def _approve(self, key: str, request: ToolRequest) -> tuple[str, str]:
        if key in self.approvals:
            return self.approvals[key], "decided at approval time"
        answer = self.policy.ask(request) if self.policy.ask is not None else None
        if answer is None:
            state = PausedRun(self.task, asdict(request), dict(self.results), dict(self.approvals))
            self.audit.write(event="paused", tool=request.tool, arguments=request.arguments, reason=request.reason,
                             from_data=request.from_data)
            raise ApprovalRequired(
                f"the call {request.describe()} needs approval; save error.state, then call "
                f"ToolGuard.resume(state, approve=True or False) and run the task again", state)
        return ("allow", "approved by the ask callback") if answer else ("deny", "refused by the ask callback")

    def after_call(self, call: Any, observation: str) -> str:
        """Record the result (audit log, untrusted data) and return it as the model should see it."""
        self.results[call_key(call.name, call.arguments)] = observation
        self.audit.write(event="result", tool=call.name, arguments=call.arguments, chars=len(observation),
                         preview=observation[:200])
        return self.add_data(observation, f"tool {call.name}")

    def resume(self, state: PausedRun, approve: bool) -> None:
        """Decide the pending call of ``state``; the next run of ``state.task`` replays results and goes on."""
        pending = state.pending
        key = call_key(pending["tool"], pending["arguments"])
        self.results = dict(state.results)
        self.approvals = {**state.approvals, key: "allow" if approve else "deny"}
        self._resuming = True
        self.audit.write(event="approval", tool=pending["tool"], arguments=pending["arguments"],
                         decision=self.approvals[key])
