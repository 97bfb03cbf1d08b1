"""Tool permissions: policy decisions, the ask callback, pause and resume, the audit log, the agent hook."""

from __future__ import annotations

import json

import pytest

from augment import Agent, FakeLLM, ToolCall
from augment.errors import ApprovalRequired, ConfigError, ToolError
from augment.guard import AuditLog, Guard, PausedRun, ToolGuard, ToolPolicy
from augment.tools import builtin, tool


@tool(permissions=["writes"])
def save_note(text: str) -> str:
    """Save a note.

    Args:
        text: the note
    """
    return f"saved {len(text)} characters"


def test_builtins_declare_what_they_do():
    perms = {t: builtin(t, **({"sandbox": "none"} if t == "python" else {})).permissions for t in ("calculator", "python", "http_get", "now")}
    assert perms == {"calculator": ("read_only",), "python": ("code_execution",), "http_get": ("network",), "now": ("read_only",)}
    assert builtin("python", sandbox="none", network=True).permissions == ("code_execution", "network")
    assert save_note.permissions == ("writes",)
    with pytest.raises(ToolError, match="unknown permission 'root'"):
        tool(permissions=["root"])(lambda x: x)


def test_default_policy_needs_explicit_allow_for_code_and_network():
    policy = ToolPolicy()
    assert policy.decide("calculator", ("read_only",))[0] == "allow"
    assert policy.decide("python", ("code_execution",))[0] == "ask"
    assert policy.decide("http_get", ("network",))[0] == "ask"
    assert policy.decide("save_note", ("writes",))[0] == "ask"
    assert ToolPolicy(network="allow").decide("http_get", ("network",))[0] == "allow"
    assert ToolPolicy(network="allow", tools={"http_get": "deny"}).decide("http_get", ("network",))[0] == "deny"
    # strictest of several permissions; data-derived outward calls are never silently allowed
    assert ToolPolicy(code_execution="allow").decide("python", ("code_execution", "network"))[0] == "ask"
    assert ToolPolicy(network="allow").decide("http_get", ("network",), from_data=True)[0] == "ask"
    assert ToolPolicy(network="allow", injection="deny").decide("http_get", ("network",), from_data=True)[0] == "deny"


def test_bad_policies_are_refused():
    with pytest.raises(ConfigError, match="unknown permission netwrk"):
        ToolPolicy(netwrk="allow")
    with pytest.raises(ConfigError, match="'maybe' is not a decision"):
        ToolPolicy(network="maybe")
    with pytest.raises(ConfigError, match="injection must be 'ask' or 'deny'"):
        ToolPolicy(injection="allow")


def test_denied_call_becomes_an_observation_and_is_audited(tmp_path):
    log = tmp_path / "audit.jsonl"
    llm = FakeLLM([ToolCall("python", {"code": "print(1)"}), ToolCall("calculator", {"expression": "2+2"}), "4"])
    agent = Agent(llm, [builtin("python", sandbox="none"), builtin("calculator")],
                  guard=ToolGuard(ToolPolicy(code_execution="deny"), audit=log))
    result = agent.run("Compute 2+2")
    assert result.complete and result.answer == "4"
    assert result.steps[0].error == "denied" and "denied by the guard" in result.steps[0].observation
    assert result.steps[1].error is None and "4" in result.steps[1].observation
    assert '<data source="tool calculator">' in result.steps[1].observation  # tool text is marked as data
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    decisions = [(e["tool"], e["decision"]) for e in entries if e["event"] == "decision"]
    assert decisions == [("python", "deny"), ("calculator", "allow")]
    assert [e["event"] for e in entries] == ["start", "decision", "decision", "result"]


def test_ask_callback_sees_the_arguments():
    seen = []

    def ask(request):
        seen.append(request.describe())
        return request.arguments["text"] != "secret"

    llm = FakeLLM([ToolCall("save_note", {"text": "hello"}), ToolCall("save_note", {"text": "secret"}), "done"])
    result = Agent(llm, [save_note], guard=ToolGuard(ToolPolicy(ask=ask))).run("save two notes")
    assert [s.error for s in result.steps[:2]] == [None, "denied"]
    assert seen[0].startswith('save_note({"text": "hello"}) [writes]')


def test_approval_pauses_the_run_and_resumes_from_saved_state(tmp_path):
    script = [ToolCall("calculator", {"expression": "6*7"}), ToolCall("save_note", {"text": "42"}), "Saved 42."]
    counter = {"n": 0}

    @tool(permissions="read_only", name="calculator")
    def counting_calc(expression: str) -> str:
        """Count calls.

        Args:
            expression: ignored
        """
        counter["n"] += 1
        return "42"

    guard = Guard(Agent(FakeLLM(script), [counting_calc, save_note]), content=None, audit_log=tmp_path / "a.jsonl")
    run = guard.run("What is 6*7? Save it.")
    assert run.paused is not None and run.answer is None and not run.complete
    path = run.paused.save(tmp_path / "paused.json")
    assert counter["n"] == 1

    # later, maybe in another process: load, approve, resume (the model replays the same turns)
    state = PausedRun.load(path)
    assert state.pending["tool"] == "save_note" and state.pending["arguments"] == {"text": "42"}
    guard2 = Guard(Agent(FakeLLM(script), [counting_calc, save_note]), content=None, audit_log=tmp_path / "a.jsonl")
    done = guard2.resume(state, approve=True)
    assert done.complete and done.answer == "Saved 42."
    assert counter["n"] == 1  # the call made before the pause was replayed, not run again
    assert done.result.steps[1].observation.count("saved 2 characters") == 1
    events = [e["event"] for e in AuditLog(tmp_path / "a.jsonl").read()]
    assert "paused" in events and "approval" in events and "replay" in events

    refused = Guard(Agent(FakeLLM(script), [counting_calc, save_note]), content=None).resume(state, approve=False)
    assert refused.result.steps[1].error == "denied"


def test_without_guard_the_agent_is_unchanged():
    llm = FakeLLM([ToolCall("save_note", {"text": "x"}), "ok"])
    assert Agent(llm, [save_note]).run("save").steps[0].error is None


def test_paused_run_file_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the paused run"):
        PausedRun.load(bad)


def test_approval_required_without_guard_wrapper_is_an_error_with_state():
    agent = Agent(FakeLLM([ToolCall("save_note", {"text": "x"}), "ok"]), [save_note], guard=ToolGuard())
    with pytest.raises(ApprovalRequired) as info:
        agent.run("save a note")
    assert isinstance(info.value.state, PausedRun) and "needs approval" in str(info.value)
