"""The code of the README's MCP, tracing and sessions sections runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def section(name: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"<!-- section:{name} -->", 1)[1].split(f"<!-- /section:{name} -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def run(code: str, where: str) -> None:
    exec(compile(code, f"README.md#{where}", "exec"), {"__name__": "readme"})


def test_readme_mcp_section_runs(tmp_path, monkeypatch, capsys):
    server, client, serving = section("mcp")
    (tmp_path / "my_server.py").write_text(server)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("augment.tools.mcp.CONNECT_TIMEOUT", 240.0)  # a loaded test machine starts Python slowly
    run(client, "mcp")
    out = capsys.readouterr().out.splitlines()
    assert out == ["[MCPTool(name='price', server='shop')]", "2.25", "Milk costs 1.10 euros."]
    run(serving, "mcp")
    assert capsys.readouterr().out.strip() == "42"


def test_readme_tracing_section_runs(tmp_path, monkeypatch, capsys):
    (code,) = section("tracing")
    monkeypatch.chdir(tmp_path)
    from augment import tracing

    try:
        run(code, "tracing")
    finally:
        tracing.capture_content(None)
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [r[:2] for r in rows][-4:] == [["chat", "fake"], ["execute_tool", "calculator"], ["chat", "fake"],
                                          ["invoke_agent", "augment-agent"]]
    assert rows[-1][2:] == ["None", "invoke_agent"] and rows[-2][-1] == "chat"


def test_readme_sessions_section_runs(tmp_path, monkeypatch, capsys):
    (code,) = section("sessions")
    monkeypatch.chdir(tmp_path)
    run(code, "sessions")
    out = capsys.readouterr().out.splitlines()
    assert out == ["['I am Ada.', 'Hi Ada!']", "You are Ada.", "[('trip', 'agent', 2), ('ada', 'chat', 4)]"]
