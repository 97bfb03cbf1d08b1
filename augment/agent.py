"""A tool-calling agent: the model calls tools until it gives a final answer.

The same loop serves every model: each step is ``llm.complete(messages,
tools=...)``. A remote (OpenAI-compatible) model answers with native tool
calls; a local :class:`~augment.llm.transformers.TransformersLLM` routes
``tools=`` to constrained decoding, so its calls always parse and validate.

Mistakes are observations, not crashes: a tool that raises, times out or gets
bad arguments, or a call to a tool that does not exist, is reported back to
the model, which can try again. Hitting ``max_steps`` returns an
:class:`AgentResult` with ``complete=False``.

>>> from augment import Agent, FakeLLM, ToolCall
>>> from augment.tools import builtin
>>> llm = FakeLLM([ToolCall("calculator", {"expression": "6 * 7"}), "The answer is 42."])
>>> result = Agent(llm, [builtin("calculator")]).run("What is 6 times 7?")
>>> result.answer, result.complete, result.steps[0].observation
('The answer is 42.', True, '42')
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Union

from augment.errors import (APIError, ConfigError, ContextLengthError, ServerUnreachableError, ToolError,
                            ToolTimeoutError, ToolValidationError)
from augment.llm.base import LLM
from augment.llm.defaults import use_default_adapter
from augment.sessions import open_session
from augment.tools import Tool, ToolRegistry
from augment.tracing import tool_call_id, trace_agent
from augment.types import Completion, Message, ToolCall

__all__ = ["Agent", "AgentStep", "AgentResult", "AgentEvent", "DEFAULT_SYSTEM_PROMPT", "final_answer"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Call a tool when the task needs one, then answer briefly with its result."
)
#: errors of the model that end a run early with its trace kept (others, e.g. bugs, are raised)
MODEL_FAILURES = (APIError, ServerUnreachableError, ContextLengthError)
#: observations longer than this are cut (the model's context is small)
MAX_OBSERVATION_CHARS = 2000


@dataclass
class AgentStep:
    """One step of a run: what the model wrote or called, and what came back.

    ``error`` names what went wrong in a call (``"unknown_tool"``,
    ``"invalid_arguments"``, ``"timeout"``, ``"tool_error"``, ``"repeated"``: the
    same call again, not re-run, its earlier result shown), else None; on the
    final step ``"empty_answer"`` means the model wrote no usable answer and the
    last tool result was given instead. ``arguments`` is exactly what the model
    sent (a dict, or the raw value when it sent something else). ``final`` is
    True for the step that gave the answer.
    """

    index: int
    text: str = ""
    tool: str | None = None
    arguments: Any = None
    observation: str | None = None
    error: str | None = None
    final: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    call_id: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One human-readable line (what the CLI prints)."""
        if self.final:
            return f"[{self.index}] answer: {self.text}"
        args = json.dumps(self.arguments, ensure_ascii=False, default=str) if self.arguments is not None else "{}"
        flag = f" ({self.error})" if self.error else ""
        return f"[{self.index}] {self.tool}({args}) -> {self.observation}{flag}"


@dataclass
class AgentResult:
    """The outcome of :meth:`Agent.run`: the answer, whether it was reached, and the trace.

    ``answer`` is None when ``complete`` is False: ``max_steps`` was hit, or
    the run stopped early, and then ``error`` says why (the model failed, e.g.
    a server error; or a tool raised ``KeyboardInterrupt``). The steps done so
    far are always kept.
    """

    task: str
    answer: str | None
    steps: list[AgentStep] = field(default_factory=list)
    complete: bool = False
    seconds: float = 0.0
    error: str | None = None

    @property
    def tool_calls(self) -> list[AgentStep]:
        return [s for s in self.steps if s.tool is not None]

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.steps)

    def trace(self) -> str:
        """The whole run as text, one line per step."""
        lines = [f"task: {self.task}"] + [s.describe() for s in self.steps]
        if self.error:
            lines.append(f"(stopped after {len(self.steps)} steps: {self.error})")
        elif not self.complete:
            lines.append(f"(stopped after {len(self.steps)} steps without a final answer)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "answer": self.answer, "complete": self.complete, "seconds": self.seconds,
                "error": self.error, "steps": [s.to_dict() for s in self.steps]}


AgentEvent = Union[AgentStep, AgentResult]
ToolsLike = Union[ToolRegistry, Iterable[Union[Tool, Callable[..., Any]]], None]


class Agent:
    """Solve a task with an LLM and tools, step by step.

    Example::

        from augment import Agent, load_llm
        from augment.tools import builtin

        agent = Agent(load_llm(), [builtin("calculator")], max_steps=4)
        result = agent.run("What is 17 * 23?")
        print(result.answer, result.complete)
        print(result.trace())                      # every call, argument and observation
        for event in agent.stream("What is 2 ** 10?"):
            print(event)                           # AgentStep objects, then the AgentResult

    ``guard`` (an :class:`augment.guard.ToolGuard`) checks every tool call before it
    runs: a denied call becomes an observation with error ``"denied"``.
    On the default model the agent uses augment's own adapter (loaded by
    ``load_llm()``, tuned for tool calls); pass ``options={"adapter": NAME}``
    or another name to change that. ``memory=True`` keeps earlier tasks and answers in the conversation of
    later runs (:meth:`reset` forgets them). ``options`` are generation
    options for every step (default ``max_tokens=256``, greedy).
    """

    def __init__(self, llm: LLM, tools: ToolsLike = None, max_steps: int = 8, system_prompt: str | None = None,
                 memory: bool = False, options: dict[str, Any] | None = None, session: Any = None,
                 guard: Any = None):
        if not isinstance(llm, LLM):
            raise ConfigError(f"Agent needs an augment LLM (load_llm(), FakeLLM...), got {type(llm).__name__}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ConfigError(f"max_steps must be a positive int, got {max_steps!r}")
        self.llm = llm
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools or [])
        self.max_steps = max_steps
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.memory = memory
        self.history: list[Message] = []
        self.options = {"max_tokens": 256, **(options or {})}
        self.guard = guard  # an augment.guard.ToolGuard: policy, approval, audit log, data marking of each call
        if "tools" in self.options or "tool_choice" in self.options:
            raise ConfigError("pass tools to Agent(llm, tools=...), not in options")
        use_default_adapter(llm, self.options)  # augment's tool-use adapter, when load_llm() loaded it
        self.session = open_session(session, "agent")  # session="name": memory kept in SQLite (augment.sessions)
        if self.session is not None:
            self.memory, self.history = True, self.session.messages

    def reset(self) -> None:
        """Forget the conversation memory."""
        self.history = []
        if self.session is not None:
            self.session.clear()

    # ---- running ----------------------------------------------------------
    def run(self, task: str) -> AgentResult:
        """Run until a final answer or ``max_steps``; return the :class:`AgentResult`."""
        result = None
        for event in self.stream(task):
            if isinstance(event, AgentResult):
                result = event
        assert result is not None  # stream always ends with a result
        return result

    def stream(self, task: str) -> Iterator[AgentEvent]:
        """Yield each :class:`AgentStep` as it happens, then the :class:`AgentResult`."""
        with trace_agent(self, task) as span:  # an OpenTelemetry invoke_agent span around the whole run
            for event in self._stream(task):
                yield span.done(event) if isinstance(event, AgentResult) else event

    def _stream(self, task: str) -> Iterator[AgentEvent]:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task is empty; pass the task as a non-empty string")
        start = time.perf_counter()
        messages = self._start(task)
        if self.guard is not None:
            self.guard.start(task)
        steps: list[AgentStep] = []
        seen: dict[str, tuple[str, str | None]] = {}
        answer: str | None = None
        stopped: str | None = None
        last_result: str | None = None  # the last successful observation
        force_answer = False  # set when the model repeats a call: it already has what it needs
        while len(steps) < self.max_steps and answer is None and stopped is None:
            t0 = time.perf_counter()
            try:
                completion = self._complete(messages, force_answer)
            except MODEL_FAILURES as e:  # the model failed (server down, context full...): keep the trace
                stopped = f"the model failed: {type(e).__name__}: {e}"
                break
            model_seconds = time.perf_counter() - t0
            usage = completion.usage
            if not completion.tool_calls:
                answer, fallback = final_answer(completion.text), False
                if not answer and last_result is not None:
                    answer, fallback = last_result, True
                step = AgentStep(len(steps) + 1, text=answer, final=True, prompt_tokens=usage.prompt_tokens,
                                 completion_tokens=usage.completion_tokens, seconds=model_seconds,
                                 error="empty_answer" if fallback else None)
                steps.append(step)
                yield step
                break
            messages.append(Message.assistant(completion.text, completion.tool_calls))
            for k, call in enumerate(completion.tool_calls):
                if len(steps) >= self.max_steps:
                    break
                t1 = time.perf_counter()
                try:
                    observation, error = self._observe(call, seen)
                except KeyboardInterrupt:
                    observation, error = "Error: the tool was interrupted", "interrupted"
                    stopped = f"tool {call.name!r} was interrupted (KeyboardInterrupt)"
                force_answer = force_answer or error == "repeated"
                if error is None:
                    last_result = observation
                step = AgentStep(
                    len(steps) + 1, text=completion.text if k == 0 else "", tool=call.name, arguments=call.arguments,
                    observation=observation, error=error, call_id=call.id,
                    prompt_tokens=usage.prompt_tokens if k == 0 else 0,
                    completion_tokens=usage.completion_tokens if k == 0 else 0,
                    seconds=(model_seconds if k == 0 else 0.0) + time.perf_counter() - t1,
                )
                messages.append(Message.tool(observation, tool_call_id=call.id, name=call.name))
                steps.append(step)
                yield step
                if stopped:
                    break
        complete = answer is not None
        if complete and self.memory:
            self.history += [Message.user(task), Message.assistant(answer or "")]
            if self.session is not None:
                self.session.add(*self.history[-2:])
        yield AgentResult(task, answer, steps, complete, time.perf_counter() - start, error=stopped)

    def _start(self, task: str) -> list[Message]:
        messages = [Message.system(self.system_prompt)] if self.system_prompt else []
        return messages + list(self.history) + [Message.user(task)]

    def _complete(self, messages: list[Message], force_answer: bool = False) -> Completion:
        """One model turn. After a repeated identical call the turn is ``tool_choice="none"``: a
        small model that calls the same tool again has its result and loops instead of answering."""
        if len(self.tools):
            choice = "none" if force_answer else "auto"
            return self.llm.complete(messages, tools=self.tools.specs(), tool_choice=choice, **self.options)
        return self.llm.complete(messages, **self.options)

    def _observe(self, call: ToolCall, seen: dict[str, tuple[str, str | None]]) -> tuple[str, str | None]:
        """Run one call; every failure becomes ``(observation, error kind)``.

        An identical repeated call is not run again: its earlier observation is
        returned with the kind ``"repeated"`` (a timed-out call is not retried
        either, so no second worker thread is left waiting on it). Any exception
        a tool raises, ``SystemExit`` included, becomes an observation;
        ``KeyboardInterrupt`` propagates to :meth:`stream`, which stops cleanly.
        """
        if call.name not in self.tools:
            return (f"Error: there is no tool named {call.name!r}. Available tools: {', '.join(self.tools.names)}. "
                    "Call one of them or give the final answer."), "unknown_tool"
        key = _call_key(call)
        if key in seen:
            return seen[key][0], "repeated"
        if self.guard is not None:  # may deny ("denied"), replay a saved result, or raise ApprovalRequired
            verdict = self.guard.before_call(call, self.tools.get(call.name))
            if verdict is not None:
                return verdict
        try:
            with tool_call_id(call.id):  # the tool's span carries the model's call id
                observation, error = self.tools.get(call.name).call(call.arguments), None
        except ToolValidationError as e:
            observation, error = f"Error: {e}", "invalid_arguments"
        except ToolTimeoutError as e:
            observation, error = f"Error: {e}", "timeout"
        except ToolError as e:
            observation, error = f"Error: {e}", "tool_error"
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as e:  # a tool outside augment's Tool.call contract, SystemExit included
            observation, error = f"Error: tool {call.name!r} failed: {type(e).__name__}: {e}", "tool_error"
        if len(observation) > MAX_OBSERVATION_CHARS:
            observation = observation[:MAX_OBSERVATION_CHARS] + f"... [cut, {len(observation)} characters in all]"
        if self.guard is not None:  # audit log entry; the text is marked as data for the model
            observation = self.guard.after_call(call, observation)
        if error in (None, "timeout"):
            seen[key] = (observation, error)
        return observation, error

    def __repr__(self) -> str:  # noqa: D105
        return f"Agent({self.llm!r}, tools={self.tools.names}, max_steps={self.max_steps})"


def _call_key(call: ToolCall) -> str:
    return call.name + json.dumps(call.arguments, sort_keys=True, default=str)


_STRAY = re.compile(r'^[\s{}\[\]",:]+|[\s{}\[\]",:]+$')


def final_answer(text: str) -> str:
    """The model's final text without stray JSON punctuation around it (``}}391"`` -> ``391``).

    >>> final_answer('}} 17 * 23 = 391. "}')
    '17 * 23 = 391.'
    """
    return _STRAY.sub("", text or "").strip()
