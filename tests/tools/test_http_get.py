"""http_get against a real HTTP server on 127.0.0.1: SSRF refusals, allowlist, redirects, limits."""

from __future__ import annotations

import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from augment.errors import ToolError, ToolPermissionError, ToolTimeoutError
from augment.tools import builtin
from augment.tools.http import check_address, host_allowed


class Handler(BaseHTTPRequestHandler):
    log: list[tuple[str, str]] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def send(self, status: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Handler.log.append((self.path, self.headers.get("Host", "")))
        port = self.server.server_address[1]
        routes = {
            "/": lambda: self.send(200, b"hello from the test server"),
            "/html": lambda: self.send(200, b"<html><head><script>var secret=1;</script><style>p{}</style></head>"
                                            b"<body><h1>Title</h1><p>Some <b>bold</b> text.</p></body></html>", "text/html"),
            "/json": lambda: self.send(200, b'{"answer": 42}', "application/json"),
            "/binary": lambda: self.send(200, b"\x89PNG\r\n" + bytes(100), "image/png"),
            "/missing": lambda: self.send(404, b"no such page"),
            "/to-root": lambda: self.send(302, headers={"Location": "/"}),
            "/to-evil": lambda: self.send(302, headers={"Location": "http://evil.example.com/steal"}),
            "/to-localhost": lambda: self.send(301, headers={"Location": f"http://localhost:{port}/"}),
            "/to-file": lambda: self.send(302, headers={"Location": "file:///etc/passwd"}),
            "/loop": lambda: self.send(302, headers={"Location": "/loop"}),
        }
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(500):  # 5 MB if read to the end
                    self.wfile.write(b"y" * 10_000)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/slow":
            time.sleep(2)
            self.send(200, b"late")
        else:
            routes.get(self.path, lambda: self.send(404, b"?"))()


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def local():
    Handler.log.clear()
    return builtin("http_get", allowed_hosts=["127.0.0.1"], allow_private=True, timeout=2)


def test_loopback_refused_by_default_and_server_not_contacted(server):
    base, port = server
    Handler.log.clear()
    with pytest.raises(ToolPermissionError, match=r"127\.0\.0\.1, a loopback address.*allow_private=True"):
        builtin("http_get").call({"url": base + "/"})
    with pytest.raises(ToolPermissionError, match=r"'localhost' resolves to (127\.0\.0\.1|::1), a loopback address"):
        builtin("http_get").call({"url": f"http://localhost:{port}/"})  # refused after DNS resolution
    assert Handler.log == []


def test_allowed_with_allow_private_and_allowlist(server, local):
    base, port = server
    out = local.call({"url": base + "/"})
    assert out.startswith("HTTP 200 OK\n") and out.endswith("hello from the test server")
    assert Handler.log == [("/", f"127.0.0.1:{port}")]


def test_host_off_allowlist_refused_before_contact(server):
    base, _ = server
    Handler.log.clear()
    tool = builtin("http_get", allowed_hosts=["example.com", "*.python.org"], allow_private=True)
    with pytest.raises(ToolPermissionError, match=r"host '127\.0\.0\.1' is not on the allowlist \(example\.com, \*\.python\.org\)"):
        tool.call({"url": base + "/"})
    assert Handler.log == []


def test_redirect_to_disallowed_host_refused(server, local):
    base, port = server
    with pytest.raises(ToolPermissionError, match="host 'evil.example.com' is not on the allowlist"):
        local.call({"url": base + "/to-evil"})
    with pytest.raises(ToolPermissionError, match="host 'localhost' is not on the allowlist"):
        local.call({"url": base + "/to-localhost"})
    with pytest.raises(ToolPermissionError, match="only http:// and https://"):
        local.call({"url": base + "/to-file"})
    assert [path for path, _ in Handler.log] == ["/to-evil", "/to-localhost", "/to-file"]


def test_redirects_followed_and_rechecked(server):
    base, port = server
    Handler.log.clear()
    tool = builtin("http_get", allow_private=True, allowed_hosts=["127.0.0.1", "localhost"])
    out = tool.call({"url": base + "/to-localhost"})
    assert "hello from the test server" in out and f"URL: http://localhost:{port}/" in out
    # the second hop went to the checked address with the original Host header
    assert Handler.log == [("/to-localhost", f"127.0.0.1:{port}"), ("/", f"localhost:{port}")]
    assert "hello" in tool.call({"url": base + "/to-root"})
    with pytest.raises(ToolError, match="more than 2 redirects"):
        builtin("http_get", allow_private=True, max_redirects=2).call({"url": base + "/loop"})


def test_size_limit_while_streaming(server):
    base, _ = server
    tool = builtin("http_get", allow_private=True, max_bytes=25_000, max_chars=100_000)
    out = tool.call({"url": base + "/big"})
    assert out.split("\n\n", 1)[1].split("\n")[0] == "y" * 25_000 and "[body cut at the size limit of 25000 bytes]" in out
    short = builtin("http_get", allow_private=True, max_chars=50).call({"url": base + "/big"})
    assert "[text shortened from 1000000 to 50 characters]" in short


def test_content_types_and_status(server, local):
    base, _ = server
    html = local.call({"url": base + "/html"})
    assert "Title\nSome\nbold\ntext." in html and "secret" not in html and "<p>" not in html
    assert local.call({"url": base + "/json"}).endswith('{"answer": 42}')
    assert "binary content of type image/png" in local.call({"url": base + "/binary"})
    missing = local.call({"url": base + "/missing"})
    assert missing.startswith("HTTP 404 Not Found") and "no such page" in missing


def test_timeout(server):
    base, _ = server
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"did not answer within 0.5 s"):
        builtin("http_get", allow_private=True, timeout=0.5).call({"url": base + "/slow"})
    assert time.monotonic() - start < 1.8


@pytest.mark.parametrize("url, match", [
    ("file:///etc/passwd", "only http:// and https://"),
    ("ftp://example.com/", "only http:// and https://"),
    ("http://", "has no host|not a valid URL"),
    ("http://no-such-host.invalid/", "cannot resolve host"),
])
def test_bad_urls(url, match):
    with pytest.raises(ToolError, match=match):
        builtin("http_get").call({"url": url})


@pytest.mark.parametrize("address, kind", [
    ("10.1.2.3", "private"), ("192.168.0.1", "private"), ("172.16.5.4", "private"),
    ("169.254.169.254", "link-local"), ("127.0.0.2", "loopback"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"), ("fe80::1", "link-local"), ("fd00::1", "private"),
    ("0.0.0.0", "unspecified"), ("100.64.0.1", "private|non-public"), ("224.0.0.1", "multicast"),
])
def test_non_public_ranges_refused(address, kind):
    with pytest.raises(ToolPermissionError, match=kind):
        check_address(address, ipaddress.ip_address(address), allow_private=False)
    check_address(address, ipaddress.ip_address(address), allow_private=True)  # allowed when asked


def test_public_addresses_and_allowlist_patterns():
    check_address("8.8.8.8", ipaddress.ip_address("8.8.8.8"), allow_private=False)
    check_address("x", ipaddress.ip_address("2606:4700::1111"), allow_private=False)
    assert host_allowed("docs.python.org", ["*.python.org"]) and host_allowed("python.org", ["*.python.org"])
    assert host_allowed("API.Example.com", ["api.example.com"])
    assert not host_allowed("python.org.evil.com", ["*.python.org"])
    assert not host_allowed("notpython.org", [".python.org"])
