"""``augment agent "task"``: run a tool-using agent, printing each step as it happens.

    $ augment agent "What is 17 * 23?" --tools calculator
    $ augment agent "What day is it?" --tools calculator,python,now --max-steps 4
    $ augment agent "Greet Ada" --tools greet --tools-dir ./my_tools --model openai:llama3

Tools are built-ins (calculator, python, http_get, now) or plugins: tools of
the ``augment.tools`` entry-point group and ``@tool`` functions in the
``.py`` files of ``--tools-dir``.
"""

from __future__ import annotations

import json

import click

from augment.cli._common import load_llm, model_option

__all__ = ["agent", "agent_model_spec"]


def agent_model_spec(model: str | None, guard_policy: str | None = None) -> str | None:
    """The model spec for ``augment agent``: ``--model`` when given; else the embedded default on the
    engine that runs its steps faster on this CPU.

    Where transformers runs float32 (a CPU without native bf16; ``$AUGMENT_CPU_DTYPE`` overrides), llama.cpp
    when llama-cpp-python is installed: measured by ``tools/bench_agent_step.py`` on a 2-core AVX2 EPYC, a
    constrained step with the prefix reuse took 0.58 s there against 0.98-1.10 s on transformers, and
    ``tools/eval_agent.py --model llamacpp`` solved 66.7% of its 42 tasks at 1.16 s a task. Where it runs
    bfloat16, transformers is the faster engine for a step (0.30-0.44 against 0.37-0.56 s), so it stays.
    A ``--guard`` run stays on transformers, whose hidden states the guard's intent check reads;
    ``--model default`` asks for transformers anyway.
    """
    from augment._cpu import fast_cpu_dtype
    from augment.cli.chat_cmd import chat_model_spec

    if not (model or guard_policy) and fast_cpu_dtype() != "float32":
        return None
    return chat_model_spec(model, guard_policy=guard_policy)


@click.command("agent")
@click.argument("task")
@click.option("--tools", "tool_names", default="calculator,now", show_default=True,
              help="Comma-separated tool names: built-ins (calculator, python, http_get, now) or plugin tools.")
@click.option("--tools-dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Folder of .py files whose @tool functions become available.")
@model_option
@click.option("--max-steps", default=6, show_default=True, type=click.IntRange(min=1), help="Most model calls.")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1), help="Most new tokens a step.")
@click.option("--system", "system_prompt", default=None, help="System prompt (default: the agent's own).")
@click.option("--json", "as_json", is_flag=True, help="Print the result (answer and trace) as one JSON object at the end.")
@click.option("--mcp", "mcp_servers", multiple=True, help="An MCP server whose tools the agent may call: a command "
              "line ('python server.py') or a URL (http://127.0.0.1:9000/mcp). Repeat for several.")
@click.option("--session", default=None, help="Keep the conversation in this named session (resumed when it exists).")
@click.option("--guard", "guard_policy", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Guard policy file (YAML): content checks, tool permissions, audit log. Calls that need approval "
                   "are asked on a terminal, else the run is saved to augment-paused.json.")
def agent(task: str, tool_names: str, tools_dir: str | None, model: str | None, max_steps: int, max_tokens: int,
          system_prompt: str | None, as_json: bool, mcp_servers: tuple[str, ...] = (), session: str | None = None,
          guard_policy: str | None = None) -> None:
    """Run a tool-using agent on TASK, printing each tool call, its observation and the answer."""
    from augment.agent import Agent, AgentResult
    from augment.errors import ApprovalRequired, AugmentError
    from augment.tools import ToolRegistry

    try:
        tools = ToolRegistry.load(tool_names, tools_dir=tools_dir) if tool_names.strip() else ToolRegistry()
        if mcp_servers:
            from augment.tools.mcp import add_mcp_servers

            add_mcp_servers(tools, mcp_servers)
        llm = load_llm(agent_model_spec(model, guard_policy))
        runner = Agent(llm, tools, max_steps=max_steps, system_prompt=system_prompt, options={"max_tokens": max_tokens},
                       session=session)
        click.echo(f"tools: {', '.join(tools.names) or '(none)'}", err=True)
        guard = _guard(runner, guard_policy, task) if guard_policy else None
        result = None
        for event in runner.stream(task):
            if isinstance(event, AgentResult):
                result = event
            elif not event.final:
                args = json.dumps(event.arguments, ensure_ascii=False)
                click.echo(f"step {event.index}: {event.tool} {args}")
                label = f"error ({event.error})" if event.error else "observation"
                click.echo(f"  {label}: {event.observation}")
    except ApprovalRequired as e:
        e.state.save("augment-paused.json")
        raise click.ClickException(f"{e}\n(the run was saved to augment-paused.json)") from e
    except AugmentError as e:
        raise click.ClickException(str(e)) from e
    assert result is not None
    if guard is not None and result.answer:
        result.answer = guard.check_output(result.answer)[0]
    if result.complete:
        click.echo(f"answer: {result.answer}")
    else:
        click.echo(f"no answer after {len(result.steps)} steps (raise --max-steps)")
    click.echo(f"({len(result.steps)} steps, {result.tokens} tokens, {result.seconds:.1f} s)", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    if not result.complete:
        raise SystemExit(2)


def _guard(runner: object, policy: str, task: str) -> object:
    """Put the agent under the ``--guard`` policy; a refused task ends the command with the refusal."""
    import sys

    from augment.guard import Guard

    guard = Guard.from_file(policy, runner)
    verdict = guard.check_input(task)
    if not verdict.allowed:
        click.echo(verdict.refusal)
        raise SystemExit(3)
    tool_policy = guard.tool_guard.policy  # type: ignore[union-attr]
    if tool_policy.ask is None and sys.stdin.isatty():
        tool_policy.ask = lambda request: click.confirm(f"allow {request.describe()}?", default=False, err=True)
    return guard
