"""The code of the README's tools section runs."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tools_section_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text.split("<!-- section:tools -->", 1)[1].split("<!-- /section:tools -->", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    assert "get_weather" in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md#tools", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "21 degrees C and sunny in Paris" in out and "HELLO" in out and "285" in out
    assert "'localhost' resolves to" in out and "not on the allowlist (docs.python.org)" in out
