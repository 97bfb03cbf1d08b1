"""`augment serve`: the OpenAI-compatible server (in-process over FakeLLM, and the real CLI in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from augment.errors import APIError, ConfigError
from augment.llm.fake import FakeLLM
from augment.llm.openai import OpenAICompatibleLLM
from augment.serve import make_server
from augment.types import Completion, ToolCall, Usage

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def fake():
    return FakeLLM()


@pytest.fixture
def server(fake):
    with make_server(fake, port=0, model_name="fake-model") as s:
        yield s


@pytest.fixture
def remote(server):
    return OpenAICompatibleLLM("fake-model", base_url=server.url, max_retries=0, timeout=10)


def test_models_and_health(server, remote):
    assert remote.list_models() == ["fake-model"]
    assert httpx.get(server.url.removesuffix("/v1") + "/health").json()["status"] == "ok"


def test_request_options_reach_the_llm(fake, remote):
    fake.enqueue("Sunny.")
    out = remote.complete("Weather?", max_tokens=9, temperature=0.7, top_p=0.5, stop=["END"], seed=4,
                          tools=[WEATHER], tool_choice="get_weather")
    assert out.text == "Sunny."
    opts = fake.calls[0].options
    assert (opts.max_tokens, opts.temperature, opts.top_p, opts.stop, opts.seed) == (9, 0.7, 0.5, ["END"], 4)
    assert opts.tools == [WEATHER] and opts.tool_choice == "get_weather"  # dict form mapped back to the name


def test_response_format_json_schema_is_unwrapped(fake, remote):
    schema = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fake.enqueue({"name": "Oslo"}, {"any": 1})
    assert remote.complete("A city", response_format=schema).parsed == {"name": "Oslo"}
    assert fake.calls[0].options.response_format == schema
    remote.complete("JSON", response_format={"type": "json_object"})
    assert fake.calls[1].options.response_format == {"type": "json_object"}


def test_tool_calls_round_trip_plain_and_streamed(fake, remote):
    fake.enqueue(ToolCall("get_weather", {"city": "Oslo"}, id="call_a"), ToolCall("get_weather", {"city": "Rome"}))
    out = remote.complete("Weather in Oslo?", tools=[WEATHER])
    assert (out.finish_reason, [(c.name, c.arguments, c.id) for c in out.tool_calls]) == (
        "tool_calls", [("get_weather", {"city": "Oslo"}, "call_a")])
    final = list(remote.stream("Weather in Rome?", tools=[WEATHER]))[-1]
    assert [(c.name, c.arguments) for c in final.tool_calls] == [("get_weather", {"city": "Rome"})]


def test_stream_sends_deltas_usage_and_done(fake, server):
    fake.enqueue("one two three")
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "count"}], "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url + "/chat/completions", json=body) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert '"role": "assistant"' in lines[0] and '"content": "one "' in lines[1]
    assert '"usage"' in lines[-2] and '"completion_tokens": 3' in lines[-2]
    assert '"finish_reason": "stop"' in lines[-3]


def test_n_choices_use_the_batch_path(fake, server):
    fake.enqueue("a", "b")
    data = httpx.post(server.url + "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "n": 2}).json()
    assert [c["message"]["content"] for c in data["choices"]] == ["a", "b"]


def test_model_naming_a_loaded_adapter_selects_it(fake, remote):
    fake.adapters = {"sql-lora": object()}
    fake.enqueue("ok", "ok")
    remote.complete("hi", adapter="sql-lora")
    remote.complete("hi")
    assert fake.calls[0].options.adapter == "sql-lora" and fake.calls[1].options.adapter is None


@pytest.mark.parametrize("body, status, match", [
    ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "role"),
    ({"messages": []}, 400, "empty"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "grammar"}}, 400, "not supported"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_requests_get_400_with_the_reason(server, body, status, match):
    r = httpx.post(server.url + "/chat/completions", json=body)
    assert r.status_code == status and match in r.json()["error"]["message"]


def test_invalid_json_and_unknown_routes(server):
    r = httpx.post(server.url + "/chat/completions", content=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/nothing").status_code == 404


def test_model_failure_is_a_500_and_the_server_keeps_serving(fake, remote):
    with pytest.raises(APIError, match="ScriptExhaustedError") as e:
        remote.complete("hi")  # the script is empty
    assert e.value.status_code == 500
    fake.enqueue(Completion("fine", usage=Usage(1, 1)))
    assert remote.complete("hi").text == "fine"


def test_port_in_use_is_a_config_error(server):
    port = server.server_address[1]
    with pytest.raises(ConfigError, match="pick another --port"):
        make_server(FakeLLM(), port=port)
    with pytest.raises(ConfigError, match="augment LLM"):
        make_server("not an llm", port=0)


def test_cli_help_lists_serve_options():
    from click.testing import CliRunner

    from augment.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--model" in result.output


@pytest.mark.real_model
def test_cli_serves_the_default_model():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "augment", "serve", "--port", "0", "--name", "smol"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()  # the first stdout line is the API root
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), proc.stderr.read() if not url else url
        remote = OpenAICompatibleLLM("smol", base_url=url, max_retries=0, timeout=60)
        assert remote.list_models() == ["smol", "augment"]  # the model, and augment's adapter loaded with it
        out = remote.complete("Say hello.", max_tokens=5)
        assert out.text.strip() and out.usage.completion_tokens > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
