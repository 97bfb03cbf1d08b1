"""python: code runs in a separate, limited subprocess."""

from __future__ import annotations

import glob
import os
import tempfile
import time

import pytest

from augment.errors import ToolError, ToolTimeoutError
from augment.tools import builtin


@pytest.fixture(scope="module")
def py():
    return builtin("python", timeout=3, memory_mb=256, max_output=500)


def test_runs_code_and_shows_output(py):
    assert py.call({"code": "import math\nprint(math.factorial(5))"}) == "120"
    assert py.call({"code": "x = [i * i for i in range(4)]\nx"}) == "[0, 1, 4, 9]"  # last expression shown
    assert py.call({"code": "```python\nprint('fenced')\n```"}) == "fenced"
    assert "no output" in py.call({"code": "y = 1"})


def test_exception_in_code_is_a_tool_error_with_traceback(py):
    with pytest.raises(ToolError) as info:
        py.call({"code": "print('before')\n1 / 0"})
    msg = str(info.value)
    assert "exited with code 1" in msg and "ZeroDivisionError: division by zero" in msg
    assert 'File "<code>", line 2' in msg and "before" in msg
    with pytest.raises(ToolError, match="SyntaxError"):
        py.call({"code": "def f(:\n  pass"})


def test_infinite_loop_is_stopped():
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"ran longer than 1.5 s and was stopped.*\n.*tick"):
        builtin("python", timeout=1.5).call({"code": "print('tick', flush=True)\nwhile True:\n    pass"})
    assert time.monotonic() - start < 4


def test_child_processes_are_killed_too(tmp_path):
    marker = tmp_path / "alive"
    inner = f"import time; time.sleep(1); open({str(marker)!r}, 'w').write('x')"
    code = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {inner!r}])\nwhile True: pass\n"
    with pytest.raises(ToolTimeoutError):
        builtin("python", timeout=1).call({"code": code})
    time.sleep(1.5)
    assert not marker.exists()  # the grandchild died with the process group


def test_ten_gigabyte_allocation_is_refused(py):
    start = time.monotonic()
    with pytest.raises(ToolError, match=r"ran out of memory \(limit 256 MB\)"):
        py.call({"code": "data = bytearray(10 * 1024 ** 3)\nprint(len(data))"})
    assert time.monotonic() - start < 3


def test_output_is_capped(py):
    out = py.call({"code": "print('x' * 100_000)"})
    assert out.startswith("x" * 500) and "[output truncated: 100001 bytes in all, the first 500 characters shown]" in out
    assert len(out) < 700
    with pytest.raises((ToolError, ToolTimeoutError)) as info:  # endless printing: file-size limit or timeout
        builtin("python", timeout=3, max_file_mb=1).call({"code": "while True:\n    print('spam' * 1000)"})
    assert "wrote more than 1 MB" in str(info.value) or "ran longer" in str(info.value)


def test_environment_has_no_secrets(monkeypatch, py):
    monkeypatch.setenv("SECRET_API_KEY", "sk-very-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another")
    out = py.call({"code": "import os, json\nprint(json.dumps(dict(os.environ)))"})
    assert "sk-very-secret" not in out and "SECRET_API_KEY" not in out and "OPENAI_API_KEY" not in out
    assert '"PATH"' in out


def test_temporary_folder_is_used_and_removed(py):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "augment-python-*")))
    code = "import os\nopen('f.txt', 'w').write('hi')\nprint(os.getcwd().count('augment-python-'), os.listdir('.'))\nos.getcwd()"
    out = py.call({"code": code})
    assert out.splitlines() == ["1 ['f.txt']", "'<tmp>/work'"]  # a fresh folder; its path is not shown to the model
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "augment-python-*"))) == before


def test_bad_config_is_refused():
    with pytest.raises(ToolError, match="must be positive"):
        builtin("python", timeout=0)


def test_last_expression_shown_and_line_numbers_kept(py):
    assert py.call({"code": "a = 'é'\n# note\nb = 2; a * b  # shown"}) == "'éé'"
    assert py.call({"code": "x = 2\n(x +\n 3)"}) == "5"
    with pytest.raises(ToolError, match=r'File "<code>", line 4'):
        py.call({"code": "x = 1\n\ny = 2\nx / 0"})
