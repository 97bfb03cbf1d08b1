"""OpenAICompatibleLLM against real HTTP servers on 127.0.0.1.

(a) a scripted OpenAI-compatible server (exact replies, errors, delays);
(b) ``augment serve``'s server over the real default model, round-tripped.
"""

from __future__ import annotations

import socket
import time

import pytest
from pydantic import BaseModel
from scripted_server import ScriptedServer, chat_body, delta, json_reply, raw, sleep, sse

from augment.errors import (
    APIError,
    APITimeoutError,
    ConfigError,
    InvalidMessagesError,
    MalformedResponseError,
    ParseError,
    RateLimitError,
    ServerUnreachableError,
)
from augment.llm.openai import OpenAICompatibleLLM
from augment.types import Message, ToolCall

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.fixture
def server():
    s = ScriptedServer().start()
    yield s
    s.stop()


@pytest.fixture
def llm(server):
    return OpenAICompatibleLLM("scripted-model", base_url=server.url, api_key="sk-test", timeout=5, backoff=0.01)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- (a) scripted server ------------------------------------------------------
def test_plain_reply_sends_the_request_and_parses_usage(server, llm):
    server.enqueue(json_reply(chat_body("Paris.", usage=(11, 3))))
    out = llm.complete([Message.system("Be brief."), Message.user("Capital of France?")],
                       max_tokens=7, temperature=0.5, stop=["\n"], seed=3, top_p=0.9)
    assert (out.text, out.finish_reason, out.usage.prompt_tokens, out.usage.completion_tokens) == ("Paris.", "stop", 11, 3)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["body"] == {
        "model": "scripted-model", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "stop": ["\n"], "seed": 3,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
    }


def test_environment_supplies_base_url_and_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    server.enqueue(json_reply(chat_body("ok")))
    assert OpenAICompatibleLLM("m").complete("hi").text == "ok"
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-env"


def test_no_api_key_sends_no_authorization_header(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.enqueue(json_reply(chat_body("ok")))
    OpenAICompatibleLLM("m", base_url=server.url, headers={"X-Trace": "1"}).complete("hi")
    assert "authorization" not in server.requests[0]["headers"]
    assert server.requests[0]["headers"]["x-trace"] == "1"


def test_streamed_reply_yields_deltas_then_completion(server, llm):
    server.enqueue(sse([delta("Hel"), delta("lo"), delta(" world", finish="stop"),
                        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}}, "[DONE]"]))
    items = list(llm.stream("Say hello", max_tokens=5))
    assert items[:-1] == ["Hel", "lo", " world"]
    final = items[-1]
    assert (final.text, final.finish_reason, final.usage.completion_tokens) == ("Hello world", "stop", 3)
    body = server.requests[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_tool_calls_and_tool_history_use_the_openai_wire_format(server, llm):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    server.enqueue(json_reply(chat_body(None, tool_calls=[call], finish="tool_calls")))
    history = [Message.user("Weather in Oslo?"),
               Message.assistant("", [ToolCall("get_weather", {"city": "Bergen"}, id="call_0")]),
               Message.tool("rainy", tool_call_id="call_0", name="get_weather")]
    out = llm.complete(history, tools=[WEATHER], tool_choice="get_weather")
    assert out.finish_reason == "tool_calls" and out.text == ""
    assert [(c.name, c.arguments, c.id) for c in out.tool_calls] == [("get_weather", {"city": "Oslo"}, "call_1")]
    body = server.requests[0]["body"]
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Bergen"}'}}]}
    assert body["messages"][2] == {"role": "tool", "content": "rainy", "tool_call_id": "call_0", "name": "get_weather"}


def test_streamed_tool_call_deltas_are_accumulated(server, llm):
    first = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    server.enqueue(sse([delta(tool_calls=[first]),
                        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"ci'}}]),
                        delta(tool_calls=[{"index": 0, "function": {"arguments": 'ty": "Rome"}'}}]),
                        delta(finish="tool_calls"), "[DONE]"]))
    items = list(llm.stream("Weather in Rome?", tools=[WEATHER], tool_choice="required"))
    assert len(items) == 1
    assert [(c.name, c.arguments, c.id) for c in items[0].tool_calls] == [("get_weather", {"city": "Rome"}, "call_9")]
    assert server.requests[0]["body"]["tool_choice"] == "required"


def test_json_schema_response_format_fills_parsed(server, llm):
    class City(BaseModel):
        name: str
        population: int

    server.enqueue(json_reply(chat_body('```json\n{"name": "Oslo", "population": 700000}\n```')),
                   json_reply(chat_body('{"ok": true}')))
    out = llm.complete("A city as JSON", response_format=City)
    assert out.parsed == {"name": "Oslo", "population": 700000}
    fmt = server.requests[0]["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City"
    assert fmt["json_schema"]["schema"]["required"] == ["name", "population"]
    assert llm.complete("any JSON", response_format={"type": "json_object"}).parsed == {"ok": True}
    assert server.requests[1]["body"]["response_format"] == {"type": "json_object"}


def test_reply_that_is_not_json_under_response_format_is_a_parse_error(server, llm):
    server.enqueue(json_reply(chat_body("sure! here it is")))
    with pytest.raises(ParseError, match="not valid JSON"):
        llm.complete("JSON please", response_format={"type": "json_object"})


def test_adapter_option_is_sent_as_the_model_name(server, llm):
    server.enqueue(json_reply(chat_body("ok")))
    llm.complete("hi", adapter="sql-lora")
    assert server.requests[0]["body"]["model"] == "sql-lora"


def test_500_then_success_is_retried(server, llm):
    server.enqueue(json_reply({"error": {"message": "boom"}}, 500), json_reply(chat_body("recovered")))
    assert llm.complete("hi").text == "recovered"
    assert len(server.requests) == 2


def test_streamed_request_is_retried_on_503(server, llm):
    server.enqueue(json_reply({"error": "busy"}, 503), sse([delta("ok", finish="stop"), "[DONE]"]))
    assert list(llm.stream("hi"))[-1].text == "ok"
    assert len(server.requests) == 2


def test_persistent_500_raises_api_error_with_server_message(server, llm):
    server.enqueue(*[json_reply({"error": {"message": "CUDA out of memory"}}, 500)] * 4)
    with pytest.raises(APIError, match="CUDA out of memory") as e:
        llm.complete("hi")
    assert e.value.status_code == 500 and len(server.requests) == 4  # 1 + max_retries


def test_429_honours_retry_after(server):
    llm = OpenAICompatibleLLM("m", base_url=server.url, backoff=30.0, max_retries=1)  # backoff alone would wait 30 s
    server.enqueue(json_reply({"error": {"message": "slow down"}}, 429, {"Retry-After": "1"}), json_reply(chat_body("ok")))
    start = time.monotonic()
    assert llm.complete("hi").text == "ok"
    assert 0.9 <= time.monotonic() - start < 5


def test_persistent_429_raises_rate_limit_error(server, llm):
    server.enqueue(*[json_reply({"error": {"message": "quota"}}, 429, {"Retry-After": "0"})] * 4)
    with pytest.raises(RateLimitError, match="rate limited.*quota"):
        llm.complete("hi")


def test_timeout_is_retried_then_raises(server):
    llm = OpenAICompatibleLLM("m", base_url=server.url, timeout=0.3, max_retries=1, backoff=0.01)
    server.enqueue(sleep(1.0, json_reply(chat_body("late"))), sleep(1.0, json_reply(chat_body("late"))))
    start = time.monotonic()
    with pytest.raises(APITimeoutError, match="did not answer within 0.3 s"):
        llm.complete("hi")
    assert len(server.requests) == 2 and time.monotonic() - start < 3


@pytest.mark.parametrize("reply, match", [
    (raw("<html>gateway</html>", content_type="text/html"), "not JSON"),
    (json_reply({"result": "hi"}), "not an OpenAI chat completion"),
    (json_reply(chat_body(None, tool_calls=[{"id": "c", "function": {"name": "f", "arguments": "{bad"}}])), "not valid JSON"),
])
def test_malformed_body_raises_malformed_response_error(server, llm, reply, match):
    server.enqueue(reply)
    with pytest.raises(MalformedResponseError, match=match):
        llm.complete("hi")


def test_malformed_or_truncated_stream_raises(server, llm):
    server.enqueue(sse([delta("a"), "{not json"]), sse([delta("a")]))
    with pytest.raises(MalformedResponseError, match="not JSON"):
        list(llm.stream("hi"))
    with pytest.raises(MalformedResponseError, match="ended before the reply was complete"):
        list(llm.stream("hi"))


def test_401_names_the_api_key_variable_and_is_not_retried(server, llm):
    server.enqueue(json_reply({"error": {"message": "Incorrect API key provided"}}, 401))
    with pytest.raises(APIError, match="OPENAI_API_KEY") as e:
        llm.complete("hi")
    assert e.value.status_code == 401 and "Incorrect API key" in str(e.value) and len(server.requests) == 1


def test_400_carries_the_server_message(server, llm):
    server.enqueue(json_reply({"error": {"message": "max_tokens is too large"}}, 400))
    with pytest.raises(APIError, match="rejected the request: max_tokens is too large") as e:
        llm.complete("hi")
    assert e.value.status_code == 400 and not isinstance(e.value, RateLimitError)


def test_unreachable_server_names_the_fix():
    llm = OpenAICompatibleLLM("m", base_url=f"http://127.0.0.1:{_free_port()}/v1", max_retries=1, backoff=0.01)
    with pytest.raises(ServerUnreachableError, match="augment serve"):
        llm.complete("hi")
    with pytest.raises(ServerUnreachableError, match="Is the server running"):
        list(llm.stream("hi"))


def test_bad_model_name_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="model name"):
        OpenAICompatibleLLM("")
    with pytest.raises(ConfigError, match="max_tokens"):
        OpenAICompatibleLLM("m", base_url="http://127.0.0.1:9/v1").complete("hi", max_tokens=0)


def test_batch_sends_concurrent_requests(server, llm):
    server.enqueue(*[json_reply(chat_body("same"))] * 3)
    assert [c.text for c in llm.batch(["a", "b", "c"])] == ["same"] * 3
    assert sorted(r["body"]["messages"][0]["content"] for r in server.requests) == ["a", "b", "c"]


def test_list_models(server, llm):
    server.enqueue(json_reply({"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}))
    assert llm.list_models() == ["m1", "m2"] and server.requests[0]["path"] == "/v1/models"


async def test_async_complete_stream_and_batch(server, llm):
    server.enqueue(json_reply({"error": "busy"}, 502), json_reply(chat_body("async ok")))
    assert (await llm.acomplete("hi")).text == "async ok"
    server.enqueue(sse([delta("a"), delta("b", finish="length"), "[DONE]"]))
    items = [i async for i in llm.astream("hi")]
    assert items[:-1] == ["a", "b"] and items[-1].finish_reason == "length"
    server.enqueue(*[json_reply(chat_body("x"))] * 2)
    assert [c.text for c in await llm.abatch(["1", "2"])] == ["x", "x"]
    server.enqueue(json_reply({"error": {"message": "nope"}}, 401))
    with pytest.raises(APIError, match="OPENAI_API_KEY"):
        await llm.acomplete("hi")
    with pytest.raises(InvalidMessagesError, match="list of conversations"):
        await llm.abatch("not a list")


# ---- (b) augment serve over the real default model ------------------------------
@pytest.fixture(scope="module")
def served(default_llm):
    from augment.serve import make_server

    server = make_server(default_llm, port=0).start()
    yield server
    server.stop()


@pytest.mark.real_model
def test_served_default_model_round_trips_complete_and_stream(default_llm, served):
    remote = OpenAICompatibleLLM(served.model_name, base_url=served.url, max_retries=0)
    assert served.model_name in remote.list_models()
    question = [Message.system("Answer in one short sentence."), Message.user("What colour is the sky?")]
    local = default_llm.complete(question, max_tokens=12)
    got = remote.complete(question, max_tokens=12)
    assert got.text == local.text and got.text.strip()  # greedy: the same tokens through HTTP
    assert got.finish_reason == local.finish_reason
    assert got.usage.completion_tokens == local.usage.completion_tokens > 0
    items = list(remote.stream(question, max_tokens=12))
    assert "".join(items[:-1]) == items[-1].text == local.text and len(items) > 2
    assert items[-1].usage.completion_tokens == local.usage.completion_tokens


@pytest.mark.real_model
async def test_served_default_model_async_and_errors(default_llm, served):
    remote = OpenAICompatibleLLM(served.model_name, base_url=served.url, max_retries=0)
    local = default_llm.complete("Name a fruit.", max_tokens=6)
    assert (await remote.acomplete("Name a fruit.", max_tokens=6)).text == local.text
    pieces = [i async for i in remote.astream("Name a fruit.", max_tokens=6)]
    assert "".join(pieces[:-1]) == pieces[-1].text == local.text


@pytest.mark.real_model
def test_served_default_model_returns_valid_tool_calls(served):
    # the local model decodes under the tool-call grammar; the client gets native OpenAI tool calls
    remote = OpenAICompatibleLLM(served.model_name, base_url=served.url, max_retries=0)
    out = remote.complete("What is the weather in Paris? Use the tool.", tools=[WEATHER], tool_choice="required",
                          max_tokens=24)
    assert out.finish_reason == "tool_calls" and [c.name for c in out.tool_calls] == ["get_weather"]
    assert isinstance(out.tool_calls[0].arguments["city"], str)
    final = list(remote.stream("Weather in Oslo? Use the tool.", tools=[WEATHER], tool_choice="get_weather",
                               max_tokens=24))[-1]
    assert [c.name for c in final.tool_calls] == ["get_weather"] and "city" in final.tool_calls[0].arguments
