"""Bad input to `augment serve`: each case is a clear 4xx naming the problem, and the server keeps serving.

The model here is FakeLLM (these are protocol checks); the real model and real clients are in
test_serve_real_clients.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from augment.llm.fake import FakeLLM
from augment.serve import Limits, make_server

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake():
    return FakeLLM(cycle=True, replies=["fine thanks"])


@pytest.fixture
def server(fake):
    limits = Limits(max_body=4096, read_timeout=0.5, write_timeout=0.5)
    with make_server(fake, port=0, model_name="fake-model", limits=limits) as s:
        yield s


def script(fake, *replies, cycle=False) -> None:
    fake._replies, fake._pos, fake.cycle = list(replies), 0, cycle


def still_serving(server) -> None:
    r = httpx.post(server.url + "/chat/completions", json={"model": "fake-model", "messages": USER}, timeout=60)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "fine thanks"


@pytest.mark.parametrize("extra, match", [
    ({"tool_choice": {"function": "x"}}, "tool_choice must be"),
    ({"response_format": {"type": "json_schema", "json_schema": "x"}}, "json_schema"),
    ({"stream_options": "x"}, "stream_options must be an object"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": ["x"]}, *USER]}, "tool_calls[0] needs a 'function'"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"function": {}}]}, *USER]}, "needs a 'function'"),
    ({"messages": "hi"}, "'messages' must be a list"),
    ({"n": "two"}, "n must be an integer"),
    ({"stream": "yes"}, "stream must be true or false"),
    ({"temperature": 9}, "temperature"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "only text parts"),
])
def test_the_malformed_payloads_of_the_issue_are_400s(server, extra, match):
    body = {"model": "fake-model", "messages": USER, **extra}
    r = httpx.post(server.url + "/chat/completions", json=body, timeout=10)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert match in error["message"] and error["type"] == "invalid_request_error"
    still_serving(server)


def test_malformed_json_and_wrong_content_type(server):
    r = httpx.post(server.url + "/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/chat/completions", content=json.dumps({"messages": USER}),
                   headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"]["message"]
    still_serving(server)


def test_body_over_the_limit_is_413(server):
    big = {"model": "fake-model", "messages": [{"role": "user", "content": "x" * 10_000}]}
    r = httpx.post(server.url + "/chat/completions", json=big)
    assert r.status_code == 413 and "4096 bytes" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b" " * 1000

    r = httpx.post(server.url + "/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    still_serving(server)


def test_unknown_model_is_404_listing_the_models(server):
    r = httpx.post(server.url + "/chat/completions", json={"model": "gpt-9", "messages": USER})
    assert r.status_code == 404
    assert "'gpt-9' is not served" in r.json()["error"]["message"] and "fake-model" in r.json()["error"]["message"]
    still_serving(server)


def test_model_errors_before_the_reply_are_400_in_json_and_in_streams():
    from augment.errors import ContextLengthError

    def too_long(messages, options):
        raise ContextLengthError("the prompt has 9000 tokens but fake holds 2048; shorten the conversation")

    with make_server(FakeLLM([too_long], cycle=True), port=0, model_name="m") as s:
        for stream in (False, True):
            r = httpx.post(s.url + "/chat/completions", json={"model": "m", "messages": USER, "stream": stream})
            assert r.status_code == 400 and "shorten the conversation" in r.json()["error"]["message"]


def test_wrong_api_key_is_401(fake):
    with make_server(fake, port=0, model_name="m", api_key="s3cret") as s:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = httpx.post(s.url + "/chat/completions", json={"model": "m", "messages": USER}, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
        assert httpx.get(s.url + "/models").status_code == 401
        assert httpx.get(s.base + "/health").status_code == 200  # health and the page stay open
        r = httpx.post(s.url + "/chat/completions", json={"model": "m", "messages": USER},
                       headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200


def test_client_that_stalls_mid_body_gets_408_and_blocks_nobody(server):
    sock = socket.create_connection(server.server_address)
    try:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500\r\n\r\n{\"messages\": ")
        still_serving(server)  # while that body hangs
        sock.settimeout(5)
        reply = sock.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 408") and "did not arrive within 0.5 s" in reply
    finally:
        sock.close()
    still_serving(server)


def test_client_that_stops_reading_a_stream_is_dropped_and_blocks_nobody(fake, server):
    script(fake, " ".join(["w" * 2000] * 3000))  # 6 MB of events, quickly made: more than the socket buffers hold
    body = json.dumps({"model": "fake-model", "messages": USER, "stream": True, "max_tokens": 1_000_000}).encode()
    sock = socket.create_connection(server.server_address)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    received = b""
    try:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.3)  # the stream starts and fills the buffers; this client never reads
        script(fake, "fine thanks", cycle=True)
        still_serving(server)
        # the stalled stream is given up after write_timeout (0.5 s); reading before that would let it go on
        time.sleep(2.0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now drain what was buffered, fast
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                sock.settimeout(0.5)
                while chunk := sock.recv(65536):
                    received += chunk
                break  # the server closed the connection
            except socket.timeout:
                continue
        else:
            pytest.fail("the server kept the stalled stream open")
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 200") and b"[DONE]" not in received  # cut off, not finished
    assert len(received) < 6_000_000


def test_client_that_disconnects_mid_stream_ends_its_generation(server, fake):
    seen = []

    def slow(messages, options):
        return " ".join(["tick"] * 20_000)

    script(fake, slow)
    with httpx.stream("POST", server.url + "/chat/completions",
                      json={"model": "fake-model", "messages": USER, "stream": True, "max_tokens": 100_000}) as r:
        for line in r.iter_lines():
            seen.append(line)
            if len(seen) > 5:
                break
    script(fake, "fine thanks", cycle=True)
    deadline = time.monotonic() + 10
    while server.engine._queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.05)
    still_serving(server)
    assert any('"tick ' in line for line in seen)


def test_unknown_route_and_method(server):
    r = httpx.get(server.url + "/nothing")
    assert r.status_code == 404 and "no route GET /v1/nothing" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/chat/completions").status_code == 405


def test_embeddings_bad_input(server):
    for body, status, match in [({"input": []}, 400, "non-empty"), ({"input": [1, 2]}, 400, "token arrays"),
                                ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format")]:
        r = httpx.post(server.url + "/embeddings", json=body)
        assert r.status_code == status and match in r.json()["error"]["message"]


def test_feedback_records_and_rejects_bad_ratings(fake, tmp_path):
    log = tmp_path / "fb.jsonl"
    with make_server(fake, port=0, model_name="m", feedback=log) as s:
        ok = httpx.post(s.url + "/feedback", json={"prompt": "q?", "response": "a.", "rating": 1, "meta": {"k": 1}})
        bad = httpx.post(s.url + "/feedback", json={"prompt": "q?", "response": "a.", "rating": 5})
    assert ok.status_code == 200 and bad.status_code == 400 and "+1" in bad.json()["error"]["message"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1 and records[0]["rating"] == 1 and records[0]["meta"]["k"] == 1


def test_concurrent_requests_share_batches():
    """Non-streamed requests that arrive together are one generate_batch call on a non-local LLM."""
    calls = []

    class Counting(FakeLLM):
        def generate_batch(self, conversations, options):
            calls.append(len(conversations))
            time.sleep(0.2)
            return super().generate_batch(conversations, options)

    llm = Counting(cycle=True, replies=["ok"])
    with make_server(llm, port=0, model_name="m", batch_window=0.05) as s:
        results = []

        def one():
            results.append(httpx.post(s.url + "/chat/completions", json={"model": "m", "messages": USER}).status_code)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [200] * 6 and sum(calls) == 6 and max(calls) > 1


def test_the_page_and_its_files_are_served_from_the_package(server):
    page = httpx.get(server.base + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/chat.js" in page.text and "http://" not in page.text and "https://" not in page.text  # no CDN
    js = httpx.get(server.base + "/static/chat.js")
    assert js.status_code == 200 and "/v1/chat/completions" in js.text and "/v1/feedback" in js.text
    assert httpx.get(server.base + "/static/chat.css").status_code == 200
    assert httpx.get(server.base + "/static/secret.py").status_code == 404
    health = httpx.get(server.base + "/health").json()
    assert health["mode"] == "chat" and health["model"] == "fake-model"
