"""augment.tools.mcp against real MCP servers (the SDK-written demo server over stdio and HTTP)."""

from __future__ import annotations

import sys
import time

import pytest
from click.testing import CliRunner

from augment import Agent, FakeLLM, ToolCall
from augment.errors import ConfigError, ServerUnreachableError, ToolError, ToolTimeoutError, ToolValidationError
from augment.tools import ToolRegistry
from augment.tools.mcp import MCPClient, MCPServers, MCPWarning, mcp_tools, schema_problem

from mcp_fixtures import STARTUP, demo_command, demo_http_url, demo_stdio, free_port  # noqa: F401  (fixtures)


def test_stdio_tools_are_augment_tools(demo_stdio):
    with pytest.warns(MCPWarning, match="'odd'.*https://example.com/schemas/value.json"):
        tools = demo_stdio.tools()
    names = [t.name for t in tools]
    assert names == ["add", "weather", "fail", "crash", "hang"]  # 'odd' left out: its schema cannot be constrained
    add = tools[0]
    spec = add.spec()["function"]
    assert spec["description"] == "Add two integers."
    assert spec["parameters"]["required"] == ["a", "b"] and spec["parameters"]["properties"]["a"]["type"] == "integer"
    assert add.call({"a": 2, "b": 3}) == "5"
    assert add(a=40, b=2) == "42"
    assert ToolRegistry(tools).call("weather", {"city": "Oslo"}) == "Oslo: 3 C and snowing"


def test_bad_schema_is_an_error_when_strict(demo_stdio):
    with pytest.raises(ToolError, match="MCP tool 'odd' of server demo was left out: the input schema refers to"):
        demo_stdio.tools(strict=True)
    assert schema_problem({"type": "array"}) and schema_problem({"type": "object", "properties": 3})
    assert schema_problem({"type": "object", "properties": {"x": {"type": "string"}}}) is None


def test_arguments_are_checked_before_sending(demo_stdio):
    with pytest.warns(MCPWarning):
        add = next(t for t in demo_stdio.tools() if t.name == "add")
    with pytest.raises(ToolValidationError, match="'b' is a required property.*'x' is not of type 'integer'"):
        add.call({"a": "x"})
    with pytest.raises(ToolValidationError, match="not valid JSON"):
        add.call("{a: 1")


def test_server_errors_become_tool_errors(demo_stdio):
    with pytest.raises(ToolError, match=r"Tool 'fail' \(MCP server demo\) returned an error: .*this tool always fails: disk"):
        demo_stdio.call("fail", {"reason": "disk"})
    with pytest.raises(ToolError, match="no weather station in 'Rome'"):
        demo_stdio.call("weather", {"city": "Rome"})
    assert demo_stdio.call("add", {"a": 1, "b": 1}) == "2"  # the server is still fine


def test_http_server(demo_http_url):
    with MCPClient(demo_http_url, timeout=30, connect_timeout=STARTUP) as client:
        assert client.url == demo_http_url and client.name == "demo"
        with pytest.warns(MCPWarning):
            tools = {t.name: t for t in client.tools()}
        assert tools["add"].call({"a": 20, "b": 22}) == "42"
        with pytest.raises(ToolError, match="always fails"):
            tools["fail"].call({})


def test_several_servers_prefix_colliding_names(demo_command, demo_http_url):
    with pytest.warns(MCPWarning):
        tools, servers = mcp_tools(demo_command + ["--name", "alpha"], demo_http_url, timeout=30,
                                   connect_timeout=STARTUP)
    try:
        names = sorted(t.name for t in tools)
        assert "alpha_add" in names and "demo_add" in names and "add" not in names
        registry = ToolRegistry(tools)  # no collision left
        assert registry.call("alpha_add", {"a": 1, "b": 2}) == "3" and registry.call("demo_add", {"a": 2, "b": 2}) == "4"
    finally:
        servers.close()


def test_agent_solves_a_task_with_an_mcp_tool(demo_stdio):
    with pytest.warns(MCPWarning):
        tools = demo_stdio.tools()
    llm = FakeLLM([ToolCall("weather", {"city": "Lima"}), lambda msgs, opts: f"It is {msgs[-1].content.split(': ')[1]}."])
    result = Agent(llm, tools).run("What is the weather in Lima?")
    assert result.complete and result.answer == "It is 22 C and cloudy."
    assert result.steps[0].observation == "Lima: 22 C and cloudy" and result.steps[0].error is None
    # the model saw the MCP tool's schema
    assert any(t["function"]["name"] == "weather" for t in llm.calls[0].options.tools)


def test_tool_error_is_an_observation_for_the_agent(demo_stdio):
    with pytest.warns(MCPWarning):
        tools = demo_stdio.tools()
    llm = FakeLLM([ToolCall("weather", {"city": "Rome"}), "I don't know the weather in Rome."])
    result = Agent(llm, tools).run("Weather in Rome?")
    assert result.complete and result.steps[0].error == "tool_error"
    assert "no weather station in 'Rome'" in result.steps[0].observation


def test_server_that_dies_mid_call(demo_command):
    with MCPClient(demo_command, timeout=30, connect_timeout=STARTUP) as client:
        with pytest.warns(MCPWarning):
            tools = client.tools()
        llm = FakeLLM([ToolCall("crash", {}), ToolCall("add", {"a": 1, "b": 2}), "The server is gone."])
        start = time.perf_counter()
        result = Agent(llm, tools).run("Crash it, then add 1 and 2.")
        assert time.perf_counter() - start < 25
        assert result.complete and [s.error for s in result.steps[:2]] == ["tool_error", "tool_error"]
        assert "the server closed the connection during the call" in result.steps[0].observation
        assert "the server is not running" in result.steps[1].observation
        assert not client.alive


def test_server_that_never_answers_times_out(demo_command):
    with MCPClient(demo_command, timeout=2, connect_timeout=STARTUP) as client:
        start = time.perf_counter()
        with pytest.raises(ToolTimeoutError, match=r"Tool 'hang' \(MCP server demo\) did not answer within 2 s"):
            client.call("hang", {})
        assert time.perf_counter() - start < 10
        llm = FakeLLM([ToolCall("hang", {"seconds": 100}), "It hangs."])
        with pytest.warns(MCPWarning):
            result = Agent(llm, client.tools()).run("Call hang.")
        assert result.steps[0].error == "timeout" and result.complete


def test_unreachable_servers_are_clear_errors(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ServerUnreachableError, match="could not be reached"):
        MCPClient([sys.executable, "-c", "import sys; sys.exit('no server here')"], connect_timeout=STARTUP).connect()
    with pytest.raises(ServerUnreachableError, match="did not answer within 3 s"):
        MCPClient([sys.executable, "-c", "import time; time.sleep(60)"], connect_timeout=3).connect()
    with pytest.raises(ServerUnreachableError, match="could not be reached"):
        MCPClient(f"http://127.0.0.1:{free_port()}/mcp", connect_timeout=20).connect()
    assert time.perf_counter() - start < STARTUP + 30
    with pytest.raises(ConfigError, match="the MCP server is empty"):
        MCPClient("   ")
    with pytest.raises(ConfigError, match="is a command line or a URL"):
        MCPClient(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timeout"):
        MCPClient("python x.py", timeout=0)


def test_cli_agent_with_mcp_servers(monkeypatch, demo_command, demo_http_url):
    llm = FakeLLM([ToolCall("alpha_add", {"a": 17, "b": 25}), ToolCall("demo_weather", {"city": "Paris"}),
                   "17 + 25 = 42 and Paris is sunny."])
    monkeypatch.setattr("augment.cli.agent_cmd.load_llm", lambda spec=None: llm)
    monkeypatch.setattr("augment.tools.mcp.CONNECT_TIMEOUT", STARTUP)  # a loaded test machine starts Python slowly
    from augment.cli import main

    command = " ".join(demo_command + ["--name", "alpha"])
    with pytest.warns(MCPWarning):
        out = CliRunner().invoke(main, ["agent", "Add 17 and 25, and tell me the weather in Paris", "--tools", "",
                                        "--mcp", command, "--mcp", demo_http_url])
    assert out.exit_code == 0, out.output
    assert "observation: 42" in out.output and "observation: Paris: 18 C and sunny" in out.output
    assert "answer: 17 + 25 = 42 and Paris is sunny." in out.output


def test_servers_group_close_stops_stdio_process(demo_command):
    group = MCPServers([demo_command], connect_timeout=STARTUP).connect()
    client = group.clients[0]
    assert client.alive
    group.close()
    assert not client.alive
