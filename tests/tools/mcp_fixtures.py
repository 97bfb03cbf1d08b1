"""Fixtures (imported by the test_mcp* modules): real MCP servers for the tests: the SDK-written demo server over stdio and over streamable HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

__all__ = ["demo_command", "demo_http_url", "demo_stdio", "free_port", "start_http", "stop", "STARTUP", "ROOT"]

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DEMO = str(HERE / "mcp_demo_server.py")
#: generous: under load a fresh Python process importing the SDK takes seconds
STARTUP = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = STARTUP) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def start_http(args: list[str], port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)
    except BaseException:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="session")
def demo_command() -> list[str]:
    return [sys.executable, DEMO]


@pytest.fixture(scope="session")
def demo_http_url():
    """The demo server on 127.0.0.1 over streamable HTTP (one process for the whole test session)."""
    port = free_port()
    proc = start_http([sys.executable, DEMO, "http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(proc)


@pytest.fixture(scope="module")
def demo_stdio(demo_command):
    """A connected client of the demo server over stdio (one server process per test module)."""
    from augment.tools.mcp import MCPClient

    with MCPClient(demo_command, timeout=30, connect_timeout=STARTUP) as client:
        yield client
