"""`augment serve` on the real default model, called by real clients: the official `openai` package and
augment's own OpenAI-compatible backend, over 127.0.0.1. Chat, streaming, tools, JSON, embeddings, batching,
RAG over the sample docs and the agent mode."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest

from augment.llm.openai import OpenAICompatibleLLM
from augment.serve import make_server

openai = pytest.importorskip("openai", reason="the openai package is in the test extra: pip install -e '.[test]'")

pytestmark = pytest.mark.real_model
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.fixture(scope="module")
def server(default_llm, default_embedder, tmp_path_factory):
    feedback = tmp_path_factory.mktemp("feedback") / "fb.jsonl"
    with make_server(default_llm, port=0, embedder=default_embedder, feedback=feedback, batch_window=0.05) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=300)


def test_openai_client_lists_models_and_chats(server, client):
    # the base model, then each loaded adapter as its own model name (the default model ships 'augment')
    assert [m.id for m in client.models.list()] == [server.model_name, *server.llm.adapters]
    out = client.chat.completions.create(model=server.model_name, max_tokens=8,
                                         messages=[{"role": "user", "content": "Say hello."}])
    assert out.choices[0].message.content.strip() and out.choices[0].finish_reason in ("stop", "length")
    assert out.usage.completion_tokens > 0 and out.usage.prompt_tokens > 0


def test_openai_client_streams_deltas_and_usage(server, client):
    chunks = list(client.chat.completions.create(model=server.model_name, max_tokens=10, stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "Count to five."}]))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def test_openai_client_tools_plain_and_streamed(server, client):
    ask = {"model": server.model_name, "max_tokens": 24, "tools": [WEATHER],
           "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
           "messages": [{"role": "user", "content": "What is the weather in Paris?"}]}
    out = client.chat.completions.create(**ask)
    call = out.choices[0].message.tool_calls[0]
    assert out.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    parts: dict[int, dict] = {}
    for chunk in client.chat.completions.create(stream=True, **ask):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            slot = parts.setdefault(tc.index, {"name": "", "args": ""})
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["args"] += (tc.function.arguments or "") if tc.function else ""
    assert parts[0]["name"] == "get_weather" and "city" in json.loads(parts[0]["args"])


def test_openai_client_json_schema(server, client):
    schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
    out = client.chat.completions.create(model=server.model_name, max_tokens=24,
                                         response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
                                         messages=[{"role": "user", "content": "Name a color as JSON."}])
    assert isinstance(json.loads(out.choices[0].message.content)["color"], str)


def test_openai_client_embeddings_match_the_embedder(server, client, default_embedder):
    texts = ["The Eiffel Tower is in Paris.", "Bees make honey."]
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the SDK asks for base64
    got = np.array([d.embedding for d in out.data])
    assert got.shape == (2, default_embedder.dimension)
    assert np.allclose(got, default_embedder.embed_documents(texts), atol=1e-5)
    plain = httpx.post(server.url + "/embeddings", json={"input": "Bees make honey.", "encoding_format": "float"}).json()
    assert np.allclose(plain["data"][0]["embedding"], got[1], atol=1e-5)


def test_augment_backend_against_the_server(server, default_llm):
    remote = OpenAICompatibleLLM(server.model_name, base_url=server.url, max_retries=0, timeout=300)
    local = default_llm.complete("Name a fruit.", max_tokens=6).text
    assert remote.complete("Name a fruit.", max_tokens=6).text == local  # greedy: same text through the server
    items = list(remote.stream("Name a fruit.", max_tokens=6))
    assert items[-1].text == local and "".join(i for i in items if isinstance(i, str)) == local


def test_concurrent_requests_are_batched_and_each_gets_its_own_reply(server, default_llm):
    questions = ["Name a fruit.", "Name a color.", "Name an animal.", "Name a country."]
    expected = [c.text for c in default_llm.batch(questions, max_tokens=6)]
    before = (server.engine.batches, server.engine.rows)
    replies: dict[int, str] = {}

    def ask(i: int) -> None:
        remote = OpenAICompatibleLLM(server.model_name, base_url=server.url, max_retries=0, timeout=300)
        replies[i] = "".join(p for p in remote.stream(questions[i], max_tokens=6) if isinstance(p, str))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batches, rows = server.engine.batches - before[0], server.engine.rows - before[1]
    assert rows == 4 and batches < 4  # rows shared generate calls
    assert [replies[i] for i in range(4)] == expected


def test_prompt_over_the_context_window_is_400(server, client):
    long = "word " * (default_window(server) + 100)
    with pytest.raises(openai.BadRequestError, match="context window"):
        client.chat.completions.create(model=server.model_name, max_tokens=4, messages=[{"role": "user", "content": long}])
    assert client.chat.completions.create(model=server.model_name, max_tokens=2,
                                          messages=[{"role": "user", "content": "Hi"}]).choices


def default_window(server) -> int:
    return server.llm.context_window


def test_rag_mode_returns_sources_and_checked_citations(rag_server):
    client = openai.OpenAI(base_url=rag_server.url, api_key="unused", max_retries=0, timeout=300)
    question = [{"role": "user", "content": "How tall is the Eiffel Tower?"}]
    out = client.chat.completions.create(model=rag_server.model_name, messages=question)
    extra = out.model_extra["augment"]
    assert extra["mode"] == "rag" and extra["sources"] and out.choices[0].message.content == extra["answer"]
    numbers = {s["n"] for s in extra["sources"]}
    assert set(extra["citations"]) <= numbers
    assert any("eiffel" in (s["source"] or "").lower() for s in extra["sources"])
    chunks = list(client.chat.completions.create(model=rag_server.model_name, messages=question, stream=True))
    finals = [c.model_extra.get("augment") for c in chunks if c.model_extra.get("augment")]
    assert finals and finals[-1]["sources"] and sum(bool(c.choices and c.choices[0].delta.content) for c in chunks) > 1


def test_agent_mode_streams_steps(default_llm):
    from augment.agent import Agent
    from augment.tools import builtin

    agent = Agent(default_llm, [builtin("calculator")], max_steps=2, options={"max_tokens": 24})
    with make_server(default_llm, port=0, agent=agent) as s:
        body = {"model": s.model_name, "stream": True, "messages": [{"role": "user", "content": "What is 17 * 23?"}]}
        with httpx.stream("POST", s.url + "/chat/completions", json=body, timeout=300) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    steps = [e["augment"]["step"] for e in events if "step" in e.get("augment", {})]
    final = [e["augment"] for e in events if e.get("augment", {}).get("mode") == "agent"]
    assert steps and final and len(final[0]["steps"]) == len(steps)
    assert events.index(next(e for e in events if "step" in e.get("augment", {}))) < len(events) - 1
    assert [s["index"] for s in steps] == list(range(1, len(steps) + 1))
