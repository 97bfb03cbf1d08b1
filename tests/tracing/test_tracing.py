"""OpenTelemetry spans checked with the SDK's in-memory exporter: names, parents, GenAI attributes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from augment import Agent, FakeLLM, ToolCall
from augment import tracing
from augment.retrieval.embeddings import FakeEmbedder
from augment.retrieval.retriever import ListRetriever
from augment.tools import builtin, tool
from augment.types import Document

EXPORTER = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def spans():
    """The global SDK provider (set once per process) with an in-memory exporter, emptied for each test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    if not getattr(provider, "_augment_test_exporter", False):  # another test may have set the provider first
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        provider._augment_test_exporter = True
    EXPORTER.clear()
    tracing.capture_content(False)
    yield EXPORTER
    tracing.capture_content(None)


def by_name(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


def test_agent_run_is_a_tree_of_genai_spans(spans):
    call = ToolCall("calculator", {"expression": "6 * 7"}, id="call_abc")
    Agent(FakeLLM([call, "42."]), [builtin("calculator")]).run("What is 6 * 7?")
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["chat fake", "execute_tool calculator", "chat fake", "invoke_agent augment-agent"]
    agent = finished[-1]
    assert agent.parent is None
    assert all(s.parent.span_id == agent.context.span_id for s in finished[:-1])
    assert len({s.context.trace_id for s in finished}) == 1
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["augment.agent.steps"] == 2 and agent.attributes["augment.agent.complete"] is True
    chat = finished[0]
    assert chat.attributes["gen_ai.operation.name"] == "chat" and chat.attributes["gen_ai.request.model"] == "fake"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] == 1
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert chat.kind == trace.SpanKind.CLIENT
    tool_span = finished[1]
    assert tool_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_span.attributes["gen_ai.tool.name"] == "calculator"
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_abc"
    # no content without consent
    for s in finished:
        assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
                    "gen_ai.tool.call.result"} & set(s.attributes)


def test_content_is_recorded_only_when_allowed(spans, monkeypatch):
    monkeypatch.setenv(tracing.CONTENT_ENV, "true")
    tracing.capture_content(None)  # follow the environment variable
    Agent(FakeLLM([ToolCall("calculator", {"expression": "2 + 2"}), "4"]), [builtin("calculator")]).run("2 + 2?")
    named = by_name(spans)
    tool_span = named["execute_tool calculator"]
    assert json.loads(tool_span.attributes["gen_ai.tool.call.arguments"]) == {"expression": "2 + 2"}
    assert tool_span.attributes["gen_ai.tool.call.result"] == "4"
    chat_input = json.loads(spans.get_finished_spans()[0].attributes["gen_ai.input.messages"])
    assert chat_input[-1] == {"role": "user", "content": "2 + 2?"}
    assert json.loads(named["invoke_agent augment-agent"].attributes["gen_ai.output.messages"])[0]["content"] == "4"


def test_tool_error_marks_the_span(spans):
    @tool
    def broken(x: int) -> int:
        """Always fails.

        Args:
            x: anything
        """
        raise ValueError("no luck")

    result = Agent(FakeLLM([ToolCall("broken", {"x": 1}), "It failed."]), [broken]).run("Try it")
    assert result.steps[0].error == "tool_error"
    span = by_name(spans)["execute_tool broken"]
    assert span.status.status_code == trace.StatusCode.ERROR and span.attributes["error.type"] == "ToolError"
    assert any(e.name == "exception" for e in span.events)


def test_retrieval_embeddings_and_batch_spans(spans):
    docs = [Document("Paris is in France."), Document("Oslo is in Norway.")]
    hits = ListRetriever(docs).retrieve("Where is Paris?", 1)
    FakeEmbedder(dimension=8).embed_documents(["a b", "c d", "a b"])
    FakeLLM(["x", "y"]).batch(["one", "two"])
    named = by_name(spans)
    retrieval = named["retrieval ListRetriever"]
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["gen_ai.request.top_k"] == 1 and retrieval.attributes["augment.retrieval.documents"] == len(hits)
    embeddings = next(s for s in spans.get_finished_spans() if s.name.startswith("embeddings "))
    assert embeddings.attributes["gen_ai.operation.name"] == "embeddings"
    assert embeddings.attributes["augment.embeddings.count"] == 2  # duplicates are embedded once
    batch = named["chat fake"]
    assert batch.attributes["augment.batch.size"] == 2 and batch.attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")


def test_cli_trace_file_holds_the_whole_run(tmp_path, monkeypatch):
    from augment.cli import main

    llm = FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "391"])
    monkeypatch.setattr("augment.cli.agent_cmd.load_llm", lambda spec=None: llm)
    path = tmp_path / "trace.jsonl"
    out = CliRunner().invoke(main, ["agent", "What is 17 * 23?", "--tools", "calculator", "--trace", str(path)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["chat fake", "execute_tool calculator", "chat fake", "invoke_agent augment-agent"]
    root = rows[-1]
    assert root["parent_id"] is None and all(r["parent_id"] == root["span_id"] for r in rows[:-1])
    assert rows[1]["attributes"]["gen_ai.tool.name"] == "calculator" and rows[0]["attributes"]["gen_ai.usage.input_tokens"] > 0
    assert all(r["trace_id"] == root["trace_id"] and r["duration_ms"] >= 0 for r in rows)


def test_cli_trace_needs_a_writable_place(tmp_path):
    from augment.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = CliRunner().invoke(main, ["agent", "task", "--trace", str(blocker / "trace.jsonl")])
    assert out.exit_code == 2 and "cannot write the trace file" in out.output and "writable folder" in out.output


def test_spans_are_no_ops_without_a_provider():
    import subprocess
    import sys

    code = ("from augment import Agent, FakeLLM, ToolCall; from augment.tools import builtin; "
            "r = Agent(FakeLLM([ToolCall('calculator', {'expression': '1+1'}), 'two']), [builtin('calculator')]).run('1+1?'); "
            "from opentelemetry import trace; print(r.answer, type(trace.get_tracer_provider()).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["two", "ProxyTracerProvider"]
