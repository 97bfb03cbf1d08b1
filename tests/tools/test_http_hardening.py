"""http_get hardening: every address form that embeds a private address, a total deadline, ports in the allowlist."""

from __future__ import annotations

import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from augment.errors import ToolPermissionError, ToolTimeoutError
from augment.tools import builtin
from augment.tools.http import check_address, host_allowed


class Drip(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "100")
        self.end_headers()
        try:
            for _ in range(100):  # one byte every 0.2 s: each read is quick, the whole body takes 20 s
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture()
def drip_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("address, why", [
    ("2002:a9fe:a9fe::1", "6to4"),                        # 6to4 of 169.254.169.254 (the cloud metadata address)
    ("2002:7f00:1::", "6to4"),                            # 6to4 of 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b::a00:1", "NAT64"),                          # 10.0.0.1
    ("64:ff9b:1::a9fe:a9fe", "NAT64 local-use"),
    ("::ffff:169.254.169.254", "IPv4-mapped"),
    ("::ffff:10.0.0.1", "IPv4-mapped"),
    ("::169.254.169.254", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),                     # deprecated form: refused even for a public address
    ("::ffff:0:a9fe:a9fe", "IPv4-translated"),
    ("2001:4860::5efe:a9fe:a9fe", "ISATAP"),
    ("fe80::200:5efe:a00:1", "ISATAP|link-local"),
    ("fec0::1", "site-local"),
    ("fd12:3456::1", "unique-local"),
    ("100::1", "discard"),
    ("2001:db8::1", "documentation"),
    ("192.0.0.170", "IETF"),
    ("198.18.0.1", "benchmarking"),
    ("192.88.99.1", "6to4 relay"),
    ("255.255.255.255", "reserved|non-public|private"),
    ("240.0.0.1", "reserved|non-public|private"),
])
def test_special_address_forms_refused(address, why):
    with pytest.raises(ToolPermissionError, match=why):
        check_address(address, ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "2002:808:808::1", "2a00:1450:4001::200e"])
def test_public_addresses_pass(address):
    check_address(address, ipaddress.ip_address(address), allow_private=False)


def test_6to4_metadata_url_is_refused_before_contact():
    with pytest.raises(ToolPermissionError, match=r"6to4 form \(169\.254\.169\.254\)"):
        builtin("http_get").call({"url": "http://[2002:a9fe:a9fe::1]/latest/meta-data/"})


def test_total_deadline_cuts_a_dripping_server(drip_server):
    tool = builtin("http_get", allow_private=True, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="deadline of the whole request"):
        tool.call({"url": f"http://127.0.0.1:{drip_server}/"})
    assert time.monotonic() - start < 6  # each byte came within 0.2 s (the body takes 20 s); the call ends at the 1 s deadline (+ set-up)


def test_allowlist_with_ports(drip_server):
    assert host_allowed("example.com", ["example.com:443"], 443)
    assert not host_allowed("example.com", ["example.com:443"], 8443)
    assert host_allowed("a.example.com", ["*.example.com:8080"], 8080)
    assert not host_allowed("a.example.com", ["*.example.com:8080"], 80)
    assert host_allowed("::1", ["[::1]:8080"], 8080) and not host_allowed("::1", ["[::1]:8080"], 8081)
    assert host_allowed("::1", ["::1"], 1234)  # an IPv6 entry without brackets has no port
    assert host_allowed("example.com", ["example.com"], 8443)  # no port in the entry: any port
    tool = builtin("http_get", allowed_hosts=["127.0.0.1:1"], allow_private=True, timeout=1)
    with pytest.raises(ToolPermissionError, match=f"not on the allowlist .* for port {drip_server}"):
        tool.call({"url": f"http://127.0.0.1:{drip_server}/"})
