"""``augment mcp`` and augment.mcp_server, used by the official SDK's client (and by augment's own)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from augment import Agent, FakeLLM, ToolCall
from augment.errors import ConfigError
from augment.mcp_server import mcp_server
from augment.rag import RAG
from augment.retrieval.retriever import ListRetriever
from augment.tools import builtin, tool
from augment.tools.mcp import MCPClient
from augment.types import Document
from mcp_fixtures import ROOT, STARTUP, free_port, start_http, stop

DOCS = [Document("The Eiffel Tower is 330 metres tall.", {"source": "paris.md"}),
        Document("Honey bees communicate with a waggle dance.", {"source": "bees.md"})]


def augment_mcp(*args: str) -> list[str]:
    return [sys.executable, "-m", "augment", "mcp", *args]


async def test_sdk_client_against_augment_mcp_over_stdio():
    command = augment_mcp("--tools", "calculator,now")
    params = StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))
    with open(ROOT / ".pytest_mcp_stderr.log", "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=STARTUP) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert set(listed) == {"calculator", "now"}
            assert listed["calculator"].input_schema["required"] == ["expression"]
            result = await client.call_tool("calculator", {"expression": "6 * 7"})
            assert not result.is_error and result.content[0].text == "42"
            bad = await client.call_tool("calculator", {"expression": "1 / 0"})
            assert bad.is_error and "division by zero" in bad.content[0].text
            wrong = await client.call_tool("calculator", {"expr": "1"})
            assert wrong.is_error and "'expr' is not an argument of this tool" in wrong.content[0].text
            missing = await client.call_tool("nope", {})
            assert missing.is_error and "unknown tool 'nope'; the tools are: calculator, now" in missing.content[0].text
    (ROOT / ".pytest_mcp_stderr.log").unlink()


@pytest.fixture(scope="module")
def docs_db(tmp_path_factory, default_embedder):
    from augment.retrieval.store import ChromaStore

    db = tmp_path_factory.mktemp("chroma")
    ChromaStore("docs", path=db, embedder=default_embedder).add(DOCS)
    return db


async def test_sdk_client_uses_rag_search_over_http(docs_db):
    port = free_port()
    proc = start_http(augment_mcp("--transport", "http", "--port", str(port), "--tools", "calculator",
                                  "--collection", "docs", "--db", str(docs_db), "--no-answer"), port)
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=STARTUP) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert names == ["calculator", "search"]
            found = await client.call_tool("search", {"query": "How tall is the Eiffel Tower?", "k": 1})
            assert not found.is_error
            assert found.content[0].text.startswith("[1] (source: paris.md") and "330 metres" in found.content[0].text
            # augment's own client reads the same server as augment tools
            with MCPClient(f"http://127.0.0.1:{port}/mcp", connect_timeout=STARTUP) as ours:
                assert ours.name == "augment"
                assert {t.name for t in ours.tools()} == {"calculator", "search"}
                assert ours.call("calculator", {"expression": "2 ** 10"}) == "1024"
    finally:
        stop(proc)


async def test_answer_and_agent_tools_in_process():
    rag = RAG(FakeLLM(["The Eiffel Tower is 330 metres tall [1]."]), ListRetriever(DOCS[:1]))
    agent = Agent(FakeLLM([ToolCall("calculator", {"expression": "330 * 2"}), "Twice its height is 660 m."]),
                  [builtin("calculator")])
    server = mcp_server([builtin("calculator")], rag=rag, agent=agent)
    async with Client(server) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == ["calculator", "search", "answer", "agent"]
        answer = await client.call_tool("answer", {"question": "How tall is the Eiffel Tower?"})
        assert answer.content[0].text.startswith("The Eiffel Tower is 330 metres tall [1].")
        assert "[1] paris.md" in answer.content[0].text
        ran = await client.call_tool("agent", {"task": "What is twice the height of the tower?"})
        assert not ran.is_error and ran.content[0].text == "Twice its height is 660 m."


async def test_a_tool_that_breaks_does_not_stop_the_server():
    @tool
    def explode(x: int) -> int:
        """Raise an error.

        Args:
            x: anything
        """
        raise KeyError(x)

    async with Client(mcp_server([explode, builtin("calculator")])) as client:
        broke = await client.call_tool("explode", {"x": 1})
        assert broke.is_error and "Tool 'explode' failed: KeyError: 1" in broke.content[0].text
        assert (await client.call_tool("calculator", {"expression": "1 + 1"})).content[0].text == "2"


def test_nothing_to_serve_is_a_clear_error():
    with pytest.raises(ConfigError, match="nothing to serve"):
        mcp_server([])
    out = CliRunner().invoke(__import__("augment.cli", fromlist=["main"]).main, ["mcp", "--tools", ""])
    assert out.exit_code != 0 and "nothing to serve" in out.output
