"""``python``: run Python code in a separate, limited subprocess.

Each call starts ``sys.executable -I`` (isolated mode) in a fresh temporary
working folder that is deleted afterwards, inside a :class:`~augment.tools.sandbox.Sandbox`
(the strongest isolation the platform offers; ``PythonTool().sandbox.guarantees``
says what it is), with:

- a wall-clock timeout (the sandbox and every process it started are killed),
- a memory limit (``RLIMIT_AS``), a CPU-time limit and a process-count limit,
- an output limit (stdout/stderr go to files capped by ``RLIMIT_FSIZE``; the
  observation shows at most ``max_output`` characters),
- an environment scrubbed of secrets: only ``PATH``, locale and time-zone
  variables are passed on.

On Linux with bubblewrap (level ``bwrap``) the code also cannot see the parent's
environment or any other process in ``/proc``, has no network (``network=True``
opens it), sees the filesystem read-only with home folders hidden, writes only in
its work folder, and nothing it starts survives it. Without bubblewrap the
guarantees are weaker (see :mod:`augment.tools.sandbox`); ``sandbox="bwrap"``
refuses to run rather than degrade.

>>> from augment.tools.python import PythonTool
>>> PythonTool().call({"code": "print(sum(range(10)))"})
'45'
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from augment.errors import ToolError, ToolTimeoutError
from augment.tools.base import Tool
from augment.tools.sandbox import Sandbox

__all__ = ["PythonTool", "SAFE_ENV_VARS"]

# the only variables the child process inherits
SAFE_ENV_VARS = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "TZ", "TERM")
_FENCE = re.compile(r"^\s*```(?:python|py)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def _strip_fences(code: str) -> str:
    m = _FENCE.match(code)
    return m.group(1) if m else code


def _print_last_expression(code: str) -> str:
    """Like a REPL: show the value of a final bare expression (``2 + 2`` prints ``4``); line numbers stay the same."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # let the child report the error with its line number
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return code
    last = tree.body[-1].value
    if isinstance(last, ast.Call) and isinstance(last.func, ast.Name) and last.func.id == "print":
        return code
    stmt = tree.body[-1]  # the statement's span includes enclosing parentheses
    data = code.encode("utf-8")
    lines = data.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: stmt.lineno - 1]) + stmt.col_offset
    end = sum(len(line) for line in lines[: (stmt.end_lineno or stmt.lineno) - 1]) + (stmt.end_col_offset or 0)
    show = b"\nif __augment_value__ is not None:\n    print(repr(__augment_value__))\n"
    return (data[:start] + b"__augment_value__ = (" + data[start:end] + b")" + data[end:] + show).decode("utf-8")


class PythonTool(Tool):
    """Run Python code in a sandboxed subprocess and return what it prints.

    The code runs in a fresh interpreter with no state kept between calls;
    use print() to show results (the value of a final bare expression is shown too).

    >>> PythonTool(timeout=5, memory_mb=256).call({"code": "x = 6 * 7\\nx"})
    '42'
    """

    name = "python"
    permissions = ("code_execution",)

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        memory_mb: int = 512,
        max_output: int = 10_000,
        max_file_mb: int = 16,
        python: str | None = None,
        extra_env: dict[str, str] | None = None,
        sandbox: str = "auto",
        network: bool = False,
        max_processes: int = 64,
        name: str | None = None,
    ):
        if timeout <= 0 or memory_mb <= 0 or max_output <= 0:
            raise ToolError("python tool: timeout, memory_mb and max_output must be positive")
        self.run_timeout = float(timeout)
        self.memory_mb = int(memory_mb)
        self.max_output = int(max_output)
        self.max_file_mb = int(max_file_mb)
        self.python = python or sys.executable
        self.extra_env = dict(extra_env or {})
        self.sandbox = Sandbox(sandbox, network=network, memory_mb=self.memory_mb, cpu_seconds=int(self.run_timeout) + 2,
                               max_file_mb=self.max_file_mb, max_processes=max_processes)
        if network:
            self.permissions = ("code_execution", "network")
        # the outer limit only catches a stuck parent; the subprocess has its own timeout
        super().__init__(name=name, timeout=self.run_timeout + 10)

    def forward(self, code: str) -> str:
        """Args:
            code: the Python source to run; print() what you want to see
        """
        code = _print_last_expression(_strip_fences(code))
        root = Path(tempfile.mkdtemp(prefix="augment-python-"))
        try:
            return self._run_in(root, code)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _env(self, work: Path) -> dict[str, str]:
        env = {k: os.environ[k] for k in SAFE_ENV_VARS if k in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(HOME=str(work), TMPDIR=str(work), PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1",
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        env.update(self.extra_env)
        return env

    def _run_in(self, root: Path, code: str) -> str:
        work = root / "work"
        work.mkdir()
        script = root / "main.py"
        script.write_text(code, encoding="utf-8")
        out_path, err_path = root / "stdout", root / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = self.sandbox.popen([self.python, "-I", "-B", str(script)], root, work, env=self._env(work),
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            try:
                returncode = proc.wait(timeout=self.run_timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                returncode = proc.kill()  # the child and anything it started
        stdout = self._read(out_path, root)
        stderr = self._read(err_path, root)
        if timed_out:
            raise ToolTimeoutError(
                f"python: the code ran longer than {self.run_timeout:g} s and was stopped (an infinite loop, or too much work). "
                f"Output before it was stopped:\n{stdout or '(none)'}"
            )
        if returncode == -signal.SIGXCPU:
            raise ToolTimeoutError(f"python: the code used more CPU time than allowed ({int(self.run_timeout) + 2} s) and was stopped")
        if returncode == -signal.SIGXFSZ or (returncode != 0 and "[Errno 27] File too large" in stderr):
            raise ToolError(
                f"python: the code wrote more than {self.max_file_mb} MB (output or files) and was stopped; print less. "
                f"Start of its output:\n{stdout[:500]}"
            )
        if returncode != 0 and "MemoryError" in stderr:
            raise ToolError(
                f"python: the code ran out of memory (limit {self.memory_mb} MB) and was stopped; use less memory.\n{stderr}"
            )
        if returncode != 0:
            why = f"was killed by signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with code {returncode}"
            text = f"python: the code {why}.\n{stderr}"
            if stdout:
                text += f"\nOutput before the error:\n{stdout}"
            raise ToolError(text.rstrip())
        text = stdout
        if stderr.strip():
            text = (text + "\n" if text else "") + "stderr:\n" + stderr
        return text.rstrip("\n") if text.strip() else "(no output; use print() to show results)"

    def _read(self, path: Path, root: Path) -> str:
        size = path.stat().st_size
        with open(path, "rb") as f:
            data = f.read(self.max_output * 4)
        text = data.decode("utf-8", errors="replace")
        text = text.replace(str(root / "main.py"), "<code>").replace(str(root), "<tmp>")
        if len(text) > self.max_output or size > len(data):
            text = text[: self.max_output] + f"\n[output truncated: {size} bytes in all, the first {self.max_output} characters shown]"
        return text
